"""The training path, written once: config -> strategy -> data -> model ->
fit with callbacks -> export.

A method plugs in through the module its config names (method.py has the
interface); the run's workdir and how tools read it back are runs.py's.
"""

import contextlib
import json
import os
import re
import time

from absl import logging
import keras
import tensorflow as tf

from common.data import tfrecord_source
from common.io import audio_io
from common.io import filesystem
from common.io import folder_lock
from common.io import paths
from common.io import state_files
from common.serve import export
from common.train import callbacks as callbacks_lib
from common.train import distribute
from common.train import method as method_lib
from common.train import run_config

# What a run writes in its workdir: none may lead outside it (paths.py).
WORKDIR_ENTRIES = ("config.json", "checkpoints", "logs",
                   os.path.join("logs", "train"), "saved_model",
                   "train_summary.json", folder_lock.LOCK_FILE, "eval")


def write_config(config, workdir):
  """Saves the run's config; warns when a resumed run changed it."""
  path = filesystem.join(workdir, "config.json")
  new = json.loads(config.to_json_best_effort())
  old = state_files.read_json(path)
  if old is not None:
    changed = sorted(k for k in set(old) | set(new) if old.get(k) != new.get(k))
    if changed:
      logging.warning("workdir %s was started with another config; changed: "
                      "%s", workdir, ", ".join(changed))
  state_files.write_json_atomic(path, new)


class _CommitConfig(keras.callbacks.Callback):
  """Writes config.json once the checkpoint (if any) has been restored:
  a resume whose config builds another model fails in the restore and
  leaves the config the checkpoints were trained with in place."""

  def __init__(self, config, workdir):
    super().__init__()
    self.config, self.workdir = config, workdir

  def on_train_begin(self, logs=None):
    write_config(self.config, self.workdir)


def check_export_window(model, config):
  """The encoder must take the SavedModel's windows: checked on the built
  model before training, not found out by the export after it."""
  window = audio_io.seconds_to_samples(config.export_window_seconds,
                                       config.sample_rate)
  try:
    model.embedding_model()(tf.zeros([1, window]), training=False)
  except (ValueError, TypeError, tf.errors.InvalidArgumentError) as e:
    raise run_config.ConfigError(
        f"the encoder built for crop_seconds={config.crop_seconds} cannot "
        f"embed the export windows of export_window_seconds="
        f"{config.export_window_seconds} ({_first_line(e)}); set both to "
        "the same value") from None


def _first_line(error):
  """What a Keras call error says, without its wrapper lines and colours."""
  for line in str(error).splitlines():
    line = re.sub(r"\x1b\[[0-9;]*m", "", line).strip()
    if line and not line.startswith(("Exception encountered", "Arguments",
                                     "\u2022")):
      return line
  return type(error).__name__


class _Throughput(keras.callbacks.Callback):
  """Steps and seconds of this process's training; `progress` holds the
  step and the CPU seconds the process has used since it started (data
  loading included) when training begins and at each epoch's end: the
  time-to-quality curve of a run."""

  def __init__(self):
    super().__init__()
    self.start = self.steps = self._first_step = 0
    self.progress = []

  def on_train_begin(self, logs=None):
    self.start = time.perf_counter()
    self._first_step = int(self.model.optimizer.iterations.numpy())
    self._record()

  def on_train_batch_end(self, batch, logs=None):
    # From the optimizer: one call runs steps_per_execution steps.
    self.steps = int(self.model.optimizer.iterations.numpy()) - (
        self._first_step)

  def on_epoch_end(self, epoch, logs=None):
    self._record()

  def _record(self):
    self.progress.append({
        "step": int(self.model.optimizer.iterations.numpy()),
        "cpu_seconds": round(time.process_time(), 2),
        "seconds": round(time.perf_counter() - self.start, 2)})


def train(config, data_spec=None, strategy_name="cpu", workdir="runs/cola",
          cpu_devices=2, tpu="", verbose="auto", callbacks=()):
  """Runs (or resumes) a training run; returns the train summary dict.

  `callbacks` are extra Keras callbacks for `fit` (after the run's own), for
  programs that embed a run and want to watch or inspect its model.

  Raises (each a one-line message for the command line):
    ConfigError: a config value that cannot work (before any work).
    FolderBusy: another process is training in `workdir`.
    UnsafePath: a name the run writes leads outside `workdir`.
    DamagedFile: the run's state cannot be read back.
    CheckpointMismatch: a resume whose config builds another model.
    WriteFailed: a checkpoint, log or export could not be written.
  """
  method = method_lib.load(config.method)
  run_config.check(config)
  data_spec = data_spec or config.data
  filesystem.makedirs(workdir)
  paths.check_inside(workdir, WORKDIR_ENTRIES)
  # The run replaces WORKDIR/saved_model when it ends: refused now, before
  # any work, if it holds what is not a SavedModel.
  export.check_output(filesystem.join(workdir, "saved_model"))
  # The chief holds the workdir; other workers share it.
  lock = (folder_lock.FolderLock(workdir, "training")
          if callbacks_lib.is_chief() else contextlib.nullcontext())
  with lock:
    return _train(method, config, data_spec, strategy_name, workdir,
                  cpu_devices, tpu, verbose, callbacks)


def _train(method, config, data_spec, strategy_name, workdir, cpu_devices,
           tpu, verbose, callbacks):
  keras.utils.set_random_seed(config.seed)
  if config.get("mixed_precision", "float32") != "float32":
    keras.mixed_precision.set_global_policy(config.mixed_precision)
  strategy = distribute.create_strategy(strategy_name, cpu_devices, tpu)
  run_config.check(config, strategy.num_replicas_in_sync)
  logging.info("strategy %s with %d replicas", strategy_name,
               strategy.num_replicas_in_sync)
  dataset, source = method.build_dataset(config, data_spec, config.batch_size)
  # After the data: a method may fit its config to it (a multimodal run
  # on audio without video drops the video pairs).
  with strategy.scope():
    model = method_lib.build_initialized_model(method, config)
    check_export_window(model, config)
    # Data statistics the model stores (the log-mel standardisation); a
    # resumed run then restores the checkpoint's values over them.
    with _damaged_data_stops(source):
      model.adapt(dataset)
  epochs = -(-config.total_steps // config.steps_per_epoch)
  throughput = _Throughput()
  chief = callbacks_lib.is_chief()
  # Order matters: NaN stops before anything is saved; the logs of an epoch
  # are on disk before its checkpoint commits (common/train/callbacks.py); the
  # config is written once the restore succeeded. Only the chief logs and
  # writes the config: other workers would write the same files again.
  logs = [callbacks_lib.DurableTensorBoard(
      filesystem.join(workdir, "logs"), update_freq="epoch")] if chief else []
  checkpoint = callbacks_lib.ResumableCheckpoint(
      filesystem.join(workdir, "checkpoints"), keep=config.keep_checkpoints,
      # A schedule comes from the config; a constant rate is set again
      # over the checkpoint's (a resumed run may change it).
      learning_rate=(config.learning_rate if isinstance(
          method_lib.learning_rate(config), float) else None))
  # Before fit, so that a checkpoint of another model stops the run before
  # anything is written (config.json comes once the restore succeeded).
  initial_epoch = checkpoint.restore(model)
  fit_callbacks = [callbacks_lib.StopOnNaN()] + logs + [checkpoint] + (
      [_CommitConfig(config, workdir)] if chief else []) + [
      throughput] + list(callbacks)
  with _damaged_data_stops(source):
    history = model.fit(dataset, epochs=epochs, initial_epoch=initial_epoch,
                        steps_per_epoch=config.steps_per_epoch,
                        callbacks=fit_callbacks, verbose=verbose,
                        shuffle=False)  # The pipeline shuffles.
  seconds = time.perf_counter() - throughput.start
  saved_model = None
  if chief:
    saved_model = export.export_saved_model(
        model.embedding_model(), filesystem.join(workdir, "saved_model"),
        config.sample_rate, config.export_window_seconds,
        config.export_hop_seconds)
  skipped = getattr(source, "skipped", None)
  summary = {
      "method": config.method,
      "data": data_spec,
      "strategy": strategy_name,
      "replicas": strategy.num_replicas_in_sync,
      "steps": int(model.optimizer.iterations.numpy()),
      "steps_this_run": throughput.steps,
      "examples_per_second": (throughput.steps * config.batch_size / seconds
                              if throughput.steps else None),
      "final_metrics": {k: float(v[-1]) for k, v in history.history.items()},
      "progress": throughput.progress,
      "cpu_seconds": round(time.process_time(), 2),
      "skipped_inputs": skipped.counts if skipped is not None else {},
      "saved_model": saved_model,
  }
  summary_path = filesystem.join(workdir, "train_summary.json")
  previous = state_files.read_json(summary_path)
  if not throughput.steps and previous is not None:
    # A finished run restarted: keep what the run that trained measured.
    for key in ("final_metrics", "examples_per_second"):
      summary[key] = previous.get(key, summary[key])
  if chief:
    state_files.write_json_atomic(summary_path, summary)
  return summary


class DamagedInput(RuntimeError):
  """The training data cannot be read (a damaged shard)."""


@contextlib.contextmanager
def _damaged_data_stops(source):
  """A damaged record or an oversized shard frame, met while reading the
  data, as one DamagedInput line naming the shard or the clip."""
  try:
    yield
  except tf.errors.DataLossError as e:
    damaged = getattr(source, "damaged_shards", None)
    raise DamagedInput(
        (damaged() if damaged else None) or
        f"the training data is damaged ({e.message.strip()})") from None
  except tf.errors.InvalidArgumentError as e:
    line = next((l for l in e.message.splitlines()
                 if tfrecord_source.FRAME_SIZE_ERROR in l), None)
    if line is None:
      raise
    raise DamagedInput(re.sub(r"assertion failed: |\[|\]", "", line).strip()
                       + f" ({source.pattern}); prepare it again") from None
