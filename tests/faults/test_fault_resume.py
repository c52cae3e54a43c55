"""SIGKILL at random moments, restart with the same command: the run ends
with every step done once, never loads a half-written checkpoint, shows
every epoch once in TensorBoard, and leaves no debris.

Each trainer's run takes KILLS kills at moments drawn from a seeded
generator: while the process starts (imports, data, restore), or at a
random point of one of its first epochs (tracing, training, the TensorBoard
flush, the checkpoint write and commit); the last kill lands at a random
point inside the final export. Every restart is the same command line.
COLA and the multimodal trainer run side by side (the restarts are mostly
single-threaded Python start-up, so two cores serve both).
"""

import collections
import glob
import importlib
import json
import os
import re
import signal
import subprocess
import threading
import time

import numpy as np
import pytest
import tensorflow as tf
from tensorboard.backend.event_processing import plugin_event_accumulator

from common.train import callbacks
from common.train import method as method_lib
from tests import processes

ROOT = processes.ROOT
SEED = 6
KILLS = 10
TIMEOUT = 240
EPOCH_LINE = re.compile(r"^Epoch (\d+)/(\d+)")
RESUMED = re.compile(r"resumed from (ckpt-\d+\.weights\.h5) "
                     r"\(epoch (\d+), step (\d+)\)")


class Child:
  """A training process whose output lines are read as they come."""

  def __init__(self, command, env):
    self.started = time.monotonic()
    env = dict(env, PYTHONUNBUFFERED="1")
    self.proc = subprocess.Popen(
        command, env=env, cwd=ROOT, stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT, text=True, errors="replace")
    self.lines, self.epoch_times = [], []
    self.done = False
    self.cond = threading.Condition()
    self.reader = threading.Thread(target=self._read, daemon=True)
    self.reader.start()

  def _read(self):
    for line in self.proc.stdout:
      with self.cond:
        self.lines.append(line)
        if EPOCH_LINE.match(line):
          self.epoch_times.append(time.monotonic())
        self.cond.notify_all()
    with self.cond:
      self.done = True
      self.cond.notify_all()

  def wait_for(self, predicate, timeout=TIMEOUT):
    """Waits until predicate() or the process ends; returns predicate()."""
    with self.cond:
      self.cond.wait_for(lambda: predicate() or self.done, timeout)
      return predicate()

  def kill(self):
    self.proc.send_signal(signal.SIGKILL)
    self.proc.wait()
    self.reader.join()

  def finish(self, timeout=TIMEOUT):
    try:
      self.proc.wait(timeout)
    except subprocess.TimeoutExpired:
      self.kill()
      pytest.fail("the restarted run did not finish:\n" + self.output()[-3000:])
    self.reader.join()
    return self.proc.returncode

  def output(self):
    return "".join(self.lines)


def committed(workdir):
  index = callbacks.read_index(os.path.join(workdir, "checkpoints"))
  return index or {"step": 0, "epoch": 0, "history": []}


def debris(workdir):
  """Temporaries and uncommitted checkpoints anywhere in the workdir."""
  found = []
  for base, dirs, files in os.walk(workdir):
    found += [os.path.join(base, n) for n in dirs + files
              if ".tmp-" in n or ".old-" in n]
  kept = set(committed(workdir)["history"])
  found += [p for p in glob.glob(os.path.join(workdir, "checkpoints", "ckpt-*"))
            if os.path.basename(p) not in kept]
  return found


def logged_epochs(workdir):
  """Epochs of `epoch_loss` as TensorBoard shows them (orphans purged)."""
  accumulator = plugin_event_accumulator.EventAccumulator(
      os.path.join(workdir, "logs", "train"),
      size_guidance={plugin_event_accumulator.TENSORS: 0},
      purge_orphaned_data=True)
  accumulator.Reload()
  return [e.step for e in accumulator.Tensors("epoch_loss")]


def raw_epoch_events(workdir):
  """epoch_loss steps in file order, as written (duplicates included)."""
  steps = []
  for path in sorted(glob.glob(os.path.join(workdir, "logs", "train",
                                            "events.out.tfevents.*"))):
    try:
      for event in tf.compat.v1.train.summary_iterator(path):
        steps += [event.step for v in event.summary.value
                  if v.tag == "epoch_loss"]
    except tf.errors.DataLossError:  # A record cut by the kill.
      pass
  return steps


_MODELS = {}
_MODELS_LOCK = threading.Lock()  # Keras builds models one at a time.


def check_loadable(workdir, config):
  """The committed checkpoint loads completely into the run's model."""
  index = callbacks.read_index(os.path.join(workdir, "checkpoints"))
  if index is None:
    return
  with _MODELS_LOCK:
    key = config.to_json()
    if key not in _MODELS:
      _MODELS[key] = method_lib.build_initialized_model(
          method_lib.load(config.method), config)
    model = _MODELS[key]
    model.load_weights(os.path.join(workdir, "checkpoints",
                                    index["weights"]))
    assert int(model.optimizer.iterations.numpy()) == index["step"]
    for variable in model.weights:
      assert np.all(np.isfinite(variable.numpy())), variable.path


def kill_and_resume(command, workdir, config, env, seed):
  """Runs `command` to completion through KILLS kills; returns a count of
  where they landed and the last run's output."""
  rng = np.random.default_rng(seed)
  startup = first_epoch = epoch = None  # Seconds, as last measured.
  record = collections.Counter()
  for i in range(KILLS - 1):
    before = committed(workdir)
    temporaries = set(glob.glob(os.path.join(workdir, "checkpoints",
                                             ".tmp-*")))
    child = Child(command, env)
    phase = "training" if startup is None or rng.uniform() < 0.6 else (
        "startup")
    fraction, later = rng.uniform(), int(rng.integers(0, 3))
    if startup is None:
      later = max(later, 1)  # The first launch measures the phases.
    if phase == "startup":
      time.sleep(fraction * startup)
    else:
      # A random point of epoch `later` of this launch (epoch 0 holds the
      # tracing of the train step, the later ones the steady state).
      assert child.wait_for(lambda: len(child.epoch_times) >= 1 + later), (
          child.output()[-3000:])
      times = child.epoch_times
      duration = first_epoch if later == 0 else (
          epoch or times[-1] - times[-2])
      time.sleep(fraction * duration)
    assert child.proc.poll() is None, (
        f"kill {i}: the run ended first; raise total_steps")
    child.kill()
    times = child.epoch_times
    if times:
      startup = times[0] - child.started
    if len(times) >= 2:
      first_epoch = times[1] - times[0]
    if len(times) >= 3:
      epoch = times[2] - times[1]
    mid_save = bool(set(glob.glob(os.path.join(
        workdir, "checkpoints", ".tmp-*"))) - temporaries)
    record[phase + (" (in a checkpoint write)" if mid_save else "")] += 1
    after = committed(workdir)
    assert after["step"] >= before["step"]
    check_loadable(workdir, config)
    # What a launch resumed from is exactly what was committed before it.
    resumed = RESUMED.search(child.output())
    if resumed and before["step"]:
      record["resumes checked"] += 1
      assert (resumed.group(1), int(resumed.group(3))) == (
          before["weights"], before["step"])
  # The last kill: at a random point inside the final export.
  child = Child(command, env)
  pattern = os.path.join(workdir, "saved_model.tmp-*")
  child.wait_for(lambda: glob.glob(pattern))
  time.sleep(rng.uniform(0, 0.3))
  assert child.proc.poll() is None, "the export ended before its kill"
  child.kill()
  record["export"] += 1
  final = Child(command, env)
  assert final.finish() == 0, final.output()[-3000:]
  return record, final.output()


def check_finished_run(workdir, config, output):
  epochs = -(-config.total_steps // config.steps_per_epoch)
  with open(os.path.join(workdir, "train_summary.json")) as f:
    summary = json.load(f)
  # What an uninterrupted run ends with (test_cola_train checks that).
  assert summary["steps"] == config.total_steps, output[-3000:]
  assert committed(workdir)["step"] == config.total_steps
  assert committed(workdir)["epoch"] == epochs
  shown = logged_epochs(workdir)
  assert shown == list(range(epochs)), shown
  raw = raw_epoch_events(workdir)
  assert set(raw) == set(range(epochs))
  assert not debris(workdir), debris(workdir)
  check_loadable(workdir, config)
  loaded = tf.saved_model.load(os.path.join(workdir, "saved_model"))
  out = loaded.signatures["serving_default"](waveform=tf.zeros([1, 16000]))
  assert np.all(np.isfinite(out["embedding"].numpy()))
  return len(raw) - len(shown)  # Orphaned epochs TensorBoard discarded.


def trainer_run(package, tmp_path, total_steps):
  """(command, workdir, config) of a tiny run of `package`'s trainer."""
  config = importlib.import_module(f"{package}.configs.tiny").get_config()
  config.total_steps, config.steps_per_epoch = total_steps, 2
  workdir = str(tmp_path / package)
  command = processes.train_command(
      package, workdir, f"--config.total_steps={total_steps}",
      "--config.steps_per_epoch=2")
  return command, workdir, config


@pytest.mark.slow
def test_training_survives_kills_at_random_moments(tmp_path, child_env):
  # Two methods of different data (pairs of crops; audio with frames),
  # killed side by side: a third would not fit the two cores' time.
  runs = {name: trainer_run(name, tmp_path, 64)
          for name in ("cola", "multimodal")}
  results, errors = {}, {}

  def run(name, seed):
    command, workdir, config = runs[name]
    try:
      results[name] = kill_and_resume(command, workdir, config, child_env,
                                      seed)
    except BaseException as e:  # pylint: disable=broad-except
      errors[name] = e

  threads = [threading.Thread(target=run, args=(name, SEED + i))
             for i, name in enumerate(runs)]
  for thread in threads:
    thread.start()
  for thread in threads:
    thread.join()
  for name, error in errors.items():
    raise AssertionError(f"{name}: {error}") from error
  for name, (record, output) in results.items():
    _, workdir, config = runs[name]
    orphans = check_finished_run(workdir, config, output)
    kills = sum(n for k, n in record.items() if k != "resumes checked")
    print(f"{name}: {kills} kills {dict(record)}; TensorBoard discarded "
          f"{orphans} orphaned epochs")
    assert kills == KILLS and record["resumes checked"] >= 3
