"""Training callbacks: atomic resumable checkpoints and a NaN stop.

Keras's `BackupAndRestore` writes its weights file and then its metadata in
place, so a kill during a save can leave a half-written file, or weights that
disagree with the epoch recorded. `ResumableCheckpoint` keeps its restore
protocol (load at train begin, resume at the saved epoch) but writes every
file under a temporary name and renames it, and commits a save only by
atomically replacing `checkpoint.json`, which names the weights file. The
last `keep` checkpoints stay; nothing is deleted at the end, so a finished
run restarted with the same command does no more steps.
"""

import json
import os

from absl import logging
import keras
import numpy as np

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
  """BackupAndRestore with atomic saves and `keep` past checkpoints."""

  def __init__(self, directory, keep=3):
    super().__init__(directory, save_freq="epoch", delete_checkpoint=False)
    self.directory = directory
    self.keep = keep

  def _load_model(self):
    index = read_index(self.directory)
    if index is None:
      return
    if self.model.optimizer is not None and not self.model.optimizer.built:
      self.model.optimizer.build(self.model.trainable_variables)
    self.model.load_weights(os.path.join(self.directory, index["weights"]))
    self.model._initial_epoch = index["epoch"]
    logging.info("resumed from %s (epoch %d, step %d)", index["weights"],
                 index["epoch"], index["step"])

  def _save_model(self):
    epoch = self._current_epoch
    step = int(self.model.optimizer.iterations.numpy())
    if not is_chief():  # Every worker takes part in reading the variables.
      tmp = os.path.join(self.directory, f".worker-{os.getpid()}.weights.h5")
      self.model.save_weights(tmp, overwrite=True)
      os.remove(tmp)
      return
    os.makedirs(self.directory, exist_ok=True)
    name = f"ckpt-{step:08d}.weights.h5"
    tmp = os.path.join(self.directory, f".tmp-{os.getpid()}-{name}")
    self.model.save_weights(tmp, overwrite=True)
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
