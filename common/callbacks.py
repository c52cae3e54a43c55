"""Training callbacks: atomic resumable checkpoints, TensorBoard logs that
survive a kill, and a NaN stop.

Keras's `BackupAndRestore` writes its weights file and then its metadata in
place, so a kill during a save can leave a half-written file, or weights that
disagree with the epoch recorded. `ResumableCheckpoint` keeps its restore
protocol (load at train begin, resume at the saved epoch) but writes every
file under a temporary name, flushes it to disk and renames it, and commits
a save only by atomically replacing `checkpoint.json`, which names the
weights file. Temporaries and uncommitted files a kill left behind are
removed when the next run starts. The last `keep` checkpoints stay; nothing
is deleted at the end, so a finished run restarted with the same command
does no more steps.

`DurableTensorBoard` keeps the logs consistent with the checkpoints: see
its docstring.
"""

import glob
import json
import os
import time

from absl import logging
import keras
import numpy as np
import tensorflow as tf
from tensorflow.core.util import event_pb2
# import_event: the one writer op for a raw Event (SessionLog) in TF2.
from tensorflow.python.ops import summary_ops_v2

INDEX = "checkpoint.json"


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


def write_json_atomic(path, value):
  tmp = f"{path}.tmp-{os.getpid()}"
  with open(tmp, "w") as f:
    json.dump(value, f, indent=2)
    f.flush()
    os.fsync(f.fileno())
  os.replace(tmp, path)
  # A process killed inside this function leaves its temporary: the next
  # write of the same file removes it.
  for stale in glob.glob(glob.escape(path) + ".tmp-*"):
    _remove(stale)


def _fsync(path):
  """Flushes a written file to disk, so a rename never publishes a file
  whose data a power loss could still take back."""
  with open(path, "rb") as f:
    os.fsync(f.fileno())


def _remove(path):
  try:
    os.remove(path)
  except FileNotFoundError:  # Another worker cleaned it first.
    pass


def read_index(directory):
  """The committed checkpoint record of `directory`, or None."""
  path = os.path.join(directory, INDEX)
  if not os.path.exists(path):
    return None
  with open(path) as f:
    return json.load(f)


def latest_weights(directory):
  """Path of the last committed weights file in `directory`, or None."""
  index = read_index(directory)
  return os.path.join(directory, index["weights"]) if index else None


class ResumableCheckpoint(keras.callbacks.BackupAndRestore):
  """BackupAndRestore with atomic saves and `keep` past checkpoints.

  The checkpoint holds the optimizer's learning rate too; `learning_rate`
  (the run's config value) is set again after a restore, so a resumed run
  with `--config.learning_rate=...` changed trains with the new value
  rather than silently with the old one.
  """

  def __init__(self, directory, keep=3, learning_rate=None):
    super().__init__(directory, save_freq="epoch", delete_checkpoint=False)
    self.directory = directory
    self.keep = keep
    self.learning_rate = learning_rate

  def _remove_leftovers(self, index):
    """Temporaries of a killed save, and weights renamed into place whose
    commit never came (a kill between the rename and checkpoint.json)."""
    if not os.path.isdir(self.directory):
      return
    kept = set(index["history"]) if index else set()
    stale = glob.glob(os.path.join(self.directory, ".tmp-*"))
    stale += glob.glob(os.path.join(self.directory, INDEX + ".tmp-*"))
    if is_chief():
      stale += [p for p in glob.glob(os.path.join(self.directory, "ckpt-*"))
                if os.path.basename(p) not in kept]
    for path in stale:
      _remove(path)
    if stale:
      logging.info("removed %d files of an interrupted save", len(stale))

  def _load_model(self):
    index = read_index(self.directory)
    self._remove_leftovers(index)
    if index is None:
      return
    if self.model.optimizer is not None and not self.model.optimizer.built:
      self.model.optimizer.build(self.model.trainable_variables)
    self.model.load_weights(os.path.join(self.directory, index["weights"]))
    self.model._initial_epoch = index["epoch"]
    optimizer = self.model.optimizer
    if self.learning_rate is not None and optimizer is not None:
      restored = float(optimizer.learning_rate.numpy())
      if restored != self.learning_rate:
        logging.info("learning rate %g (the config's), not the "
                     "checkpoint's %g", self.learning_rate, restored)
        optimizer.learning_rate.assign(self.learning_rate)
    logging.info("resumed from %s (epoch %d, step %d)", index["weights"],
                 index["epoch"], index["step"])

  def _save_model(self):
    epoch = self._current_epoch
    step = int(self.model.optimizer.iterations.numpy())
    os.makedirs(self.directory, exist_ok=True)
    if not is_chief():  # Every worker takes part in reading the variables.
      tmp = os.path.join(self.directory,
                         f".tmp-worker-{os.getpid()}.weights.h5")
      self.model.save_weights(tmp, overwrite=True)
      os.remove(tmp)
      return
    name = f"ckpt-{step:08d}.weights.h5"
    tmp = os.path.join(self.directory, f".tmp-{os.getpid()}-{name}")
    self.model.save_weights(tmp, overwrite=True)
    _fsync(tmp)
    os.replace(tmp, os.path.join(self.directory, name))
    previous = read_index(self.directory) or {"history": []}
    history = [h for h in previous.get("history", []) if h != name] + [name]
    write_json_atomic(os.path.join(self.directory, INDEX), {
        "epoch": epoch, "step": step, "weights": name,
        "history": history[-self.keep:]})
    for old in history[:-self.keep]:
      path = os.path.join(self.directory, old)
      if os.path.exists(path):
        os.remove(path)


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
  """

  def on_train_batch_end(self, batch, logs=None):
    loss = (logs or {}).get("loss")
    if loss is not None and not np.isfinite(float(loss)):
      step = int(self.model.optimizer.iterations.numpy())
      raise TrainingDiverged(
          f"loss became {float(loss)} at step {step}; the last checkpoint "
          "holds the last good weights")
