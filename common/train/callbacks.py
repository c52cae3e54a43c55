"""Training callbacks: atomic resumable checkpoints, TensorBoard logs that
survive a kill, and a NaN stop.

Keras's `BackupAndRestore` writes its weights file and then its metadata in
place, so a kill during a save can leave a half-written file, or weights that
disagree with the epoch recorded. `ResumableCheckpoint` keeps its restore
protocol (load before training, resume at the saved epoch: fit's public
`initial_epoch`) but writes every file under a temporary name, flushes it to disk and renames it, and commits
a save only by atomically replacing `checkpoint.json`, which names the
weights file. Temporaries and uncommitted files a kill left behind are
removed when the next run starts. The last `keep` checkpoints stay; nothing
is deleted at the end, so a finished run restarted with the same command
does no more steps.

A resume whose latest checkpoint cannot be read falls back to the newest
kept one that can (the index records each one's epoch), and says so; names
in the index are used only if they are checkpoint names of the folder. A
save the disk refuses raises `state_files.WriteFailed`, leaving the last
commit in place.

`DurableTensorBoard` keeps the logs consistent with the checkpoints: see
its docstring.
"""

import gc
import json
import math
import os
import re
import sys
import time

from absl import logging
import keras
import numpy as np
import tensorflow as tf
from tensorflow.core.util import event_pb2
# import_event: the one writer op for a raw Event (SessionLog) in TF2.
from tensorflow.python.ops import summary_ops_v2

from common.io import filesystem
from common.io import state_files

INDEX = "checkpoint.json"
CHECKPOINT_NAME = re.compile(r"ckpt-[0-9]{8}\.weights\.h5")
# The temporaries a save writes (_save) and the index's (filesystem.py).
TEMPORARY_NAME = re.compile(
    r"\.tmp-(worker-[0-9]+|[0-9]+-ckpt-[0-9]{8})\.weights\.h5")
INDEX_TEMPORARY = re.compile(re.escape(INDEX) + r"\.tmp-[0-9]+-[0-9a-f]{8}")


class TrainingDiverged(RuntimeError):
  """The loss became NaN or infinite."""


def is_chief():
  """True unless TF_CONFIG names this process a non-chief worker."""
  config = json.loads(os.environ.get("TF_CONFIG", "{}") or "{}")
  task = config.get("task", {})
  cluster = config.get("cluster", {})
  if not task:
    return True
  if task.get("type") == "chief":
    return True
  return (task.get("type") == "worker" and task.get("index", 0) == 0
          and "chief" not in cluster)


def _checkpoint_name(name, index_path):
  """A weights name read from the index, refused unless it is one this
  callback writes: a plain file name in the folder, so no crafted index
  makes a resume load or delete a file elsewhere."""
  if not isinstance(name, str) or not CHECKPOINT_NAME.fullmatch(name):
    raise state_files.DamagedFile(
        f"{index_path} names {name!r}, which is not a checkpoint of this "
        "folder (ckpt-STEP.weights.h5); refusing to use it: restore the "
        "file, or move the checkpoints folder aside to start over")
  return name


def read_index(directory):
  """The committed checkpoint record of `directory`, or None.

  Raises:
    DamagedFile: checkpoint.json is cut or names files outside the folder.
  """
  path = filesystem.join(directory, INDEX)
  try:
    index = state_files.read_json(path)
  except state_files.DamagedFile as e:
    raise state_files.DamagedFile(
        f"{e}; restore it, or move the checkpoints folder aside to start "
        "over (its weights files can be exported with common.export "
        "--weights=FILE)") from None
  if index is None:
    return None
  if not isinstance(index, dict) or "weights" not in index:
    raise state_files.DamagedFile(f"{path} is not a checkpoint index")
  _checkpoint_name(index["weights"], path)
  for name in index.get("history", []):
    _checkpoint_name(name, path)
  return index


def latest_weights(directory):
  """Path of the last committed weights file in `directory`, or None."""
  index = read_index(directory)
  return filesystem.join(directory, index["weights"]) if index else None


class CheckpointMismatch(ValueError):
  """The checkpoint holds another architecture than the config builds."""


class ResumableCheckpoint(keras.callbacks.Callback):
  """Atomic checkpoints at each epoch's end, `keep` of them kept, and the
  restore that resumes a run from the newest one that can be read.

  BackupAndRestore's protocol through public APIs only: `restore(model)`
  loads before `fit` and returns the epoch to pass as fit's
  `initial_epoch`; `on_epoch_end` saves.

  The checkpoint holds the optimizer's learning rate too; `learning_rate`
  (the run's config value) is set again after a restore, so a resumed run
  with `--config.learning_rate=...` changed trains with the new value
  rather than silently with the old one.
  """

  def __init__(self, directory, keep=3, learning_rate=None):
    super().__init__()
    self.directory = directory
    self.keep = keep
    self.learning_rate = learning_rate

  def restore(self, model):
    """Loads the newest readable committed checkpoint into `model` (its
    optimizer built first, so its state loads too).

    Returns:
      The number of epochs that checkpoint completed (0 without one):
      fit's `initial_epoch`.

    Raises:
      CheckpointMismatch: the checkpoint holds another model.
      DamagedFile: no committed checkpoint can be read.
    """
    self.set_model(model)
    return self._load()

  def on_epoch_end(self, epoch, logs=None):
    self._save(epoch + 1)

  def _remove_leftovers(self, index):
    """Temporaries of a killed save, and weights renamed into place whose
    commit never came (a kill between the rename and checkpoint.json)."""
    kept = set(index["history"]) if index else set()
    # Only names this callback writes (a user's ckpt-mybackup.txt or
    # .tmp-draft in the folder is left alone, and said).
    stale = [p for p in filesystem.matching(self.directory, ".tmp-*")
             if TEMPORARY_NAME.fullmatch(os.path.basename(p))]
    stale += [p for p in filesystem.matching(self.directory, INDEX + ".tmp-*")
              if INDEX_TEMPORARY.fullmatch(os.path.basename(p))]
    if is_chief():
      stale += [p for p in filesystem.matching(self.directory, "ckpt-*")
                if CHECKPOINT_NAME.fullmatch(os.path.basename(p)) and
                os.path.basename(p) not in kept]
    for path in stale:
      filesystem.remove(path)
    if stale:
      logging.info("removed %d files of an interrupted save: %s", len(stale),
                   ", ".join(sorted(os.path.basename(p) for p in stale)))
    foreign = sorted(
        os.path.basename(p) for p in filesystem.matching(self.directory, "*")
        if not (CHECKPOINT_NAME.fullmatch(os.path.basename(p)) or
                os.path.basename(p) == INDEX))
    if foreign:
      logging.warning("%s holds files this run did not write, left as they "
                      "are: %s", self.directory, ", ".join(foreign))

  def _candidates(self, index):
    """(name, epoch, step) of the committed checkpoints, newest first;
    older ones only where the index records their epoch."""
    yield index["weights"], index["epoch"], index["step"]
    epochs = index.get("epochs", {})
    for name in reversed(index.get("history", [])[:-1]):
      if name != index["weights"] and name in epochs:
        yield name, epochs[name][0], epochs[name][1]

  def _load(self):
    index = read_index(self.directory)
    self._remove_leftovers(index)
    if index is None:
      return 0
    if self.model.optimizer is not None and not self.model.optimizer.built:
      self.model.optimizer.build(self.model.trainable_variables)
    damaged = []
    for name, epoch, step in self._candidates(index):
      path = filesystem.join(self.directory, name)
      try:
        self.model.load_weights(path)
      # h5py: a missing, cut or garbled file; gfile: a missing remote one.
      except (OSError, tf.errors.NotFoundError) as e:
        logging.warning("checkpoint %s cannot be read (%s); trying the one "
                        "before it", path, e)
        damaged.append(name)
        continue
      except ValueError as e:  # Keras: other variables or shapes.
        raise CheckpointMismatch(
            f"checkpoint {path} does not fit the model this config builds "
            f"({str(e).splitlines()[0]}); resume with the config the run "
            "was started with (config.json of the workdir) or use a new "
            "--workdir") from None
      break
    else:
      raise state_files.DamagedFile(
          f"no committed checkpoint in {self.directory} can be read "
          f"({', '.join(damaged)}); move the folder aside to start over")
    if damaged:
      message = (f"resumed from the older checkpoint {name} (step {step}): "
                 f"{', '.join(damaged)} cannot be read")
      logging.warning("%s", message)
      print(f"warning: {message}", flush=True)
    optimizer = self.model.optimizer
    if self.learning_rate is not None and optimizer is not None:
      restored = float(optimizer.learning_rate.numpy())
      # The optimizer holds float32: 3e-4 reads back as 0.00030000001.
      if not math.isclose(restored, self.learning_rate, rel_tol=1e-6):
        logging.info("learning rate %g (the config's), not the "
                     "checkpoint's %g", self.learning_rate, restored)
        optimizer.learning_rate.assign(self.learning_rate)
    logging.info("resumed from %s (epoch %d, step %d)", name, epoch, step)
    return epoch

  def _save_weights(self, tmp, what):
    """save_weights to `tmp`, or WriteFailed (and no `tmp`) if the disk
    refuses."""
    # h5py prints each object it then cannot free (pages of the same
    # error, through both hooks): the one line below says it all.
    hooks = sys.unraisablehook, sys.excepthook
    sys.unraisablehook = sys.excepthook = lambda *args: None
    failure = None
    try:
      try:
        self.model.save_weights(tmp, overwrite=True)
      except (OSError, RuntimeError, tf.errors.OpError) as e:
        failure = state_files.reason(e)
      if failure is None:
        return
      # Out of the except block, so the traceback (and the h5py objects
      # its frames hold) is gone, and they are freed while the hooks are
      # quiet. HDF5 still crashes the interpreter's shutdown after such a
      # write: the command line ends at once after its error (common/train/cli.py).
      gc.collect()
      filesystem.remove_quietly(tmp)
    finally:
      sys.unraisablehook, sys.excepthook = hooks
    committed = read_index(self.directory)
    kept = (f"the last committed checkpoint, {committed['weights']}, is "
            "intact" if committed else "no checkpoint was committed yet")
    raise state_files.WriteFailed(
        f"could not write {what} in {self.directory}: {failure}; {kept}: "
        "free space and run the same command to resume")

  def _save(self, epoch):
    step = int(self.model.optimizer.iterations.numpy())
    filesystem.makedirs(self.directory)
    if not is_chief():  # Every worker takes part in reading the variables.
      tmp = filesystem.join(self.directory,
                            f".tmp-worker-{os.getpid()}.weights.h5")
      self._save_weights(tmp, "a worker's checkpoint")
      filesystem.remove(tmp)
      return
    name = f"ckpt-{step:08d}.weights.h5"
    tmp = filesystem.join(self.directory, f".tmp-{os.getpid()}-{name}")
    self._save_weights(tmp, f"checkpoint {name}")
    # Written whole, then committed; the index, which makes it the latest,
    # is committed after it (filesystem.py: on object stores too).
    with state_files.writing(f"checkpoint {name} in {self.directory}",
                             cleanup=[tmp]):
      filesystem.commit_file(tmp, filesystem.join(self.directory, name))
    previous = read_index(self.directory) or {"history": []}
    history = [h for h in previous.get("history", []) if h != name] + [name]
    epochs = dict(previous.get("epochs", {}), **{name: [epoch, step]})
    kept = history[-self.keep:]
    try:
      state_files.write_json_atomic(filesystem.join(self.directory, INDEX), {
          "epoch": epoch, "step": step, "weights": name, "history": kept,
          "epochs": {h: epochs[h] for h in kept if h in epochs}})
    except state_files.WriteFailed as e:
      committed = (f"the last committed checkpoint, {previous['weights']}, "
                   "is intact" if "weights" in previous else
                   "no checkpoint was committed yet")
      raise state_files.WriteFailed(
          f"{e}; {committed}: free space and run the same command to "
          "resume") from None
    for old in history[:-self.keep]:
      filesystem.remove(filesystem.join(self.directory, old))


class DurableTensorBoard(keras.callbacks.TensorBoard):
  """Keras's TensorBoard, made to agree with the checkpoints after a kill.

  Keras buffers events for up to two minutes, so a killed run lost the
  epochs it had logged but already checkpointed; and a resumed run logs
  again the epochs it redoes. Here each epoch's events are flushed at its
  end, before the checkpoint commits (this callback must come before
  `ResumableCheckpoint`), so the logs are never behind the checkpoints; and
  each process writes, before its first epoch, a SessionLog START event at
  that epoch: TensorBoard then discards the events at or after it that a
  killed run wrote (the protocol TensorFlow 1 used for restarts), and shows
  every epoch once, in order.
  """

  def __init__(self, *args, **kwargs):
    super().__init__(*args, **kwargs)
    self._started = False

  def on_train_begin(self, logs=None):
    super().on_train_begin(logs)
    self._started = False

  def on_epoch_begin(self, epoch, logs=None):
    super().on_epoch_begin(epoch, logs)
    if self._started:
      return
    self._started = True
    event = event_pb2.Event(
        wall_time=time.time(), step=epoch,
        session_log=event_pb2.SessionLog(status=event_pb2.SessionLog.START))
    with self._train_writer.as_default():
      summary_ops_v2.import_event(tf.constant(event.SerializeToString()))
    self._train_writer.flush()

  def on_epoch_end(self, epoch, logs=None):
    super().on_epoch_end(epoch, logs)
    for writer in self._writers.values():
      writer.flush()


class StopOnNaN(keras.callbacks.Callback):
  """Stops training with `TrainingDiverged` naming the step.

  It raises from the batch that produced the NaN, so no later callback (no
  checkpoint) sees the bad weights: the last checkpoint stays the last good
  one.

  With `steps_per_execution` > 1 the logs come once per call, after its
  last step; the loss is the epoch's running mean, so a non-finite step
  shows at the end of its call, and the message names the call's steps.
  """

  def on_train_batch_end(self, batch, logs=None):
    loss = (logs or {}).get("loss")
    if loss is not None and not np.isfinite(float(loss)):
      step = int(self.model.optimizer.iterations.numpy())
      per_call = int(getattr(self.model, "steps_per_execution", 1) or 1)
      where = (f"at step {step}" if per_call == 1 else
               f"at one of steps {max(step - per_call + 1, 1)} to {step} "
               f"(steps_per_execution={per_call} runs them in one call)")
      raise TrainingDiverged(
          f"loss became {float(loss)} {where}; the last checkpoint "
          "holds the last good weights")
