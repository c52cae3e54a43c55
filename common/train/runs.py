"""A training run's workdir, read back: its config, its last checkpoint, the
model they rebuild, and its SavedModel.

  config.json            the full config of the run (and the method)
  checkpoints/           atomic resumable checkpoints (callbacks.py)
  logs/                  TensorBoard
  saved_model/           the exported SavedModel (common/serve/export.py)
  train_summary.json     steps, final metrics, throughput, skipped inputs

`restore_model` is the one way a tool (export, evaluation, the Keras layer,
the benchmarks) rebuilds a run's model.
"""

import contextlib
import os
from typing import Optional, Tuple

from absl import logging
import keras
import ml_collections

from common.io import filesystem
from common.io import folder_lock
from common.io import paths
from common.io import state_files
from common.serve import export
from common.serve import loader
from common.train import callbacks
from common.train import method as method_lib

CONFIG_FILE = "config.json"
CHECKPOINTS = "checkpoints"
SAVED_MODEL = "saved_model"


def is_workdir(path: str) -> bool:
  """Whether `path` holds a training run's config.json."""
  return filesystem.exists(filesystem.join(path, CONFIG_FILE))


def read_config(workdir: str) -> ml_collections.ConfigDict:
  """The config a run was trained with (its config.json).

  Raises:
    FileNotFoundError: `workdir` is no training workdir.
    DamagedFile: config.json cannot be read back.
  """
  path = filesystem.join(workdir, CONFIG_FILE)
  config = state_files.read_json(path)
  if config is None:
    raise FileNotFoundError(f"{path} does not exist: not a training workdir")
  return ml_collections.ConfigDict(config)


def last_checkpoint(workdir: str) -> str:
  """The weights file of the run's last committed checkpoint.

  Raises:
    FileNotFoundError: the run has committed no checkpoint.
  """
  weights = callbacks.latest_weights(filesystem.join(workdir, CHECKPOINTS))
  if weights is None:
    raise FileNotFoundError(f"{workdir}: no checkpoint to load")
  return weights


def restore_model(workdir: str, weights: Optional[str] = None,
                  pretrained: bool = True, seed: Optional[int] = None,
                  ) -> Tuple[ml_collections.ConfigDict, keras.Model]:
  """Rebuilds a run's model from its workdir.

  Args:
    workdir: the run's workdir.
    weights: a .weights.h5 file to load instead of the last checkpoint.
    pretrained: False leaves the model at its initialisation (the same
      architecture, untrained: the random baselines).
    seed: seeds Keras's random initialisation first, when given.

  Returns:
    (config, model): the run's config and the model its config builds,
    compiled, with every weight created and the weights loaded.

  Raises:
    FileNotFoundError: not a workdir, or no checkpoint to load.
    ValueError: the config names no method that can be imported.
  """
  config = read_config(workdir)
  if pretrained:
    weights = weights or last_checkpoint(workdir)
  if seed is not None:
    keras.utils.set_random_seed(seed)
  model = method_lib.build_initialized_model(
      method_lib.load(config.method), config)
  if pretrained:
    model.load_weights(weights)
  else:
    logging.info("%s: model at its initialisation (seed %s)", workdir, seed)
  return config, model


def export_workdir(workdir: str, output: Optional[str] = None,
                   weights: Optional[str] = None) -> str:
  """Exports a run's last checkpoint (or `weights`) as a SavedModel.

  Args:
    workdir: the run's workdir.
    output: the SavedModel directory (default: WORKDIR/saved_model, written
      only while no training holds the workdir).
    weights: a .weights.h5 file to export instead of the last checkpoint.

  Returns:
    The SavedModel's path.

  Raises:
    FileNotFoundError: not a workdir, or no checkpoint.
    FolderBusy: a training run holds the workdir (default output only).
    WriteFailed: the SavedModel could not be written.
  """
  if output is None:
    paths.check_inside(workdir, [SAVED_MODEL])
  # Before any work: an output holding what is not a SavedModel is refused.
  export.check_output(output or filesystem.join(workdir, SAVED_MODEL))
  config, model = restore_model(workdir, weights)
  lock = (folder_lock.FolderLock(workdir, "export") if output is None
          else contextlib.nullcontext())
  with lock:
    return export.export_saved_model(
        model.embedding_model(),
        output or filesystem.join(workdir, SAVED_MODEL), config.sample_rate,
        config.export_window_seconds, config.export_hop_seconds)


def saved_model_of(path: str) -> str:
  """The SavedModel of `path`: `path` itself when it is one; for a
  workdir, its saved_model/, exported again first when missing or older
  than the last checkpoint.

  Raises:
    FileNotFoundError: `path` is neither a SavedModel nor a workdir.
  """
  path = os.fspath(path)
  if loader.is_saved_model(path):
    return path
  if not is_workdir(path):
    raise FileNotFoundError(
        f"{path}: neither a SavedModel (saved_model.pb) nor a training "
        "workdir (config.json)")
  saved = filesystem.join(path, SAVED_MODEL)
  index = filesystem.join(path, CHECKPOINTS, callbacks.INDEX)
  pb = filesystem.join(saved, export.SAVED_MODEL_FILE)
  stale = not filesystem.exists(pb) or (
      filesystem.exists(index) and
      filesystem.mtime(index) > filesystem.mtime(pb))
  if stale:
    logging.info("%s: exporting the last checkpoint to %s", path, saved)
    export_workdir(path)
  return saved


def load_embedding_model(path: str, batch_windows: int = 256):
  """common.serve.loader.load for any `--model`: a SavedModel, a .tflite
  file, or a training workdir (its SavedModel, `saved_model_of`).

  Raises:
    FileNotFoundError: `path` is none of these.
  """
  if is_workdir(path):
    path = saved_model_of(path)
  return loader.load(path, batch_windows)
