"""The training path, written once: config -> strategy -> data -> model ->
fit with callbacks -> export.

A method (cola, multimodal) plugs in through a small module with:
  build_model(config) -> keras.Model with `initialize()`, `train_step`, and
      `embedding_model()`: a Keras callable mapping [n, window samples]
      waveforms to [n, D] embeddings, which is what gets exported;
  build_dataset(config, data_spec, batch_size) -> (tf.data.Dataset, source)
      yielding global batches forever.

Workdir layout:
  config.json            the full config of the run (and the method)
  checkpoints/           atomic resumable checkpoints (common/callbacks.py)
  logs/                  TensorBoard
  saved_model/           the exported SavedModel (common/export.py)
  train_summary.json     steps, final metrics, throughput, skipped inputs
"""

import contextlib
import importlib
import json
import os
import re
import time

from absl import logging
import keras
import tensorflow as tf

from common import callbacks as callbacks_lib
from common import distribute
from common import export
from common import filesystem
from common import folder_lock
from common import paths
from common import run_config
from common import state_files

METHODS = {"cola": "cola.method", "multimodal": "multimodal.method"}
# What a run writes in its workdir: none may lead outside it (paths.py).
WORKDIR_ENTRIES = ("config.json", "checkpoints", "logs",
                   os.path.join("logs", "train"), "saved_model",
                   "train_summary.json", folder_lock.LOCK_FILE, "eval")


def load_method(name):
  if name not in METHODS:
    raise ValueError(f"unknown method {name!r}: {', '.join(METHODS)}")
  return importlib.import_module(METHODS[name])


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


def read_config(workdir):
  import ml_collections  # Only the export/evaluation tools need this.
  path = filesystem.join(workdir, "config.json")
  config = state_files.read_json(path)
  if config is None:
    raise FileNotFoundError(f"{path} does not exist: not a training workdir")
  return ml_collections.ConfigDict(config)


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
  window = int(round(config.export_window_seconds * config.sample_rate))
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


SCHEDULES = ("constant", "cosine")


def learning_rate(config):
  """The config's rate: a float, or a warm-up + cosine decay schedule."""
  schedule = config.get("lr_schedule", "constant")
  if schedule not in SCHEDULES:
    raise ValueError(f"lr_schedule={schedule!r}: expected one of "
                     f"{', '.join(SCHEDULES)}")
  if schedule == "constant":
    return config.learning_rate
  warmup = int(config.get("warmup_steps", 0))
  return keras.optimizers.schedules.CosineDecay(
      0.0 if warmup else config.learning_rate,
      decay_steps=max(config.total_steps - warmup, 1),
      warmup_target=config.learning_rate if warmup else None,
      warmup_steps=warmup)


def build_optimizer(config):
  return keras.optimizers.Adam(learning_rate(config))


def build_initialized_model(method, config):
  """The method's model with every weight created (call in a strategy scope)."""
  model = method.build_model(config)
  model.compile(optimizer=build_optimizer(config),
                jit_compile=bool(config.get("jit_compile", False)),
                steps_per_execution=config.get("steps_per_execution", 1))
  model.initialize()
  model.optimizer.build(model.trainable_variables)
  if _worker_count(tf.distribute.get_strategy()) > 1:
    _fit_multi_worker(model)
  return model


def restore_model(workdir, weights=None, pretrained=True):
  """(config, model) of a run's workdir: the model its config.json builds,
  with every weight created and the last committed checkpoint (or the
  `weights` file) loaded; `pretrained=False` leaves it initialised.

  Raises:
    FileNotFoundError: not a workdir, or no checkpoint to load.
  """
  config = read_config(workdir)
  if pretrained:
    weights = weights or callbacks_lib.latest_weights(
        filesystem.join(workdir, "checkpoints"))
    if weights is None:
      raise FileNotFoundError(f"{workdir}: no checkpoint to load")
  model = build_initialized_model(load_method(config.method), config)
  if pretrained:
    model.load_weights(weights)
  return config, model


def _worker_count(strategy):
  """Processes a MultiWorkerMirroredStrategy spans (0 for other ones)."""
  if not isinstance(strategy, tf.distribute.MultiWorkerMirroredStrategy):
    return 0
  spec = strategy.cluster_resolver.cluster_spec().as_dict()
  return sum(len(spec.get(job, [])) for job in ("chief", "worker"))


def _fit_multi_worker(model):
  """Works around two Keras 3 bugs that stop `fit` under
  MultiWorkerMirroredStrategy with several workers
  (tests/test_multimodal_distributed.py runs two):

  - fit first averages one batch over the replicas to build the model
    symbolically, and the strategy cannot reduce a nested batch (a tuple or
    dict; keras-team/keras#20329). initialize() has built everything that
    this would, so it is skipped.
  - each step's logs are averaged with `strategy.reduce("MEAN", v, axis=0)`,
    which fails on scalars (tensorflow/tensorflow#72388); logs of shape [1]
    reduce to the same scalar means.
  """
  model._maybe_symbolic_build = lambda *args, **kwargs: None  # pylint: disable=protected-access
  train_step = model.train_step

  def train_step_with_vector_logs(data):
    return {k: tf.reshape(v, [1]) for k, v in train_step(data).items()}

  model.train_step = train_step_with_vector_logs


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
  method = load_method(config.method)
  run_config.check(config)
  data_spec = data_spec or config.data
  filesystem.makedirs(workdir)
  paths.check_inside(workdir, WORKDIR_ENTRIES)
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
    model = build_initialized_model(method, config)
    check_export_window(model, config)
    # Data statistics the model stores (the log-mel standardisation); a
    # resumed run then restores the checkpoint's values over them.
    with _damaged_data_stops(source):
      model.adapt(dataset)
  epochs = -(-config.total_steps // config.steps_per_epoch)
  throughput = _Throughput()
  chief = callbacks_lib.is_chief()
  # Order matters: NaN stops before anything is saved; the logs of an epoch
  # are on disk before its checkpoint commits (common/callbacks.py); the
  # config is written once the restore succeeded. Only the chief logs and
  # writes the config: other workers would write the same files again.
  logs = [callbacks_lib.DurableTensorBoard(
      filesystem.join(workdir, "logs"), update_freq="epoch")] if chief else []
  fit_callbacks = [callbacks_lib.StopOnNaN()] + logs + [
      callbacks_lib.ResumableCheckpoint(
          filesystem.join(workdir, "checkpoints"), keep=config.keep_checkpoints,
          # A schedule comes from the config; a constant rate is set again
          # over the checkpoint's (a resumed run may change it).
          learning_rate=(config.learning_rate if isinstance(
              learning_rate(config), float) else None)),
  ] + ([_CommitConfig(config, workdir)] if chief else []) + [
      throughput] + list(callbacks)
  with _damaged_data_stops(source):
    history = model.fit(dataset, epochs=epochs,
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
    from common import tfrecord_source  # The one data check that raises.
    line = next((l for l in e.message.splitlines()
                 if tfrecord_source.FRAME_SIZE_ERROR in l), None)
    if line is None:
      raise
    raise DamagedInput(re.sub(r"assertion failed: |\[|\]", "", line).strip()
                       + f" ({source.pattern}); prepare it again") from None
