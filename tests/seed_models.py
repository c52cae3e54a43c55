"""Small real models for the downstream-tool tests, built once per session.

The seed model is COLA's tiny config initialised from seed 0 (no training),
exported with common/serve/export.py; the tiny workdir is a real 4-step COLA run.
Both are cached under pytest's session temp directory, so every test file
that asks gets the same files.
"""

import os

import keras

from cola.configs import tiny
from cola import model as cola_model
from common.serve import export
from common.train import trainer


def seed_model(seed=0):
  """COLA tiny, initialised from `seed`."""
  keras.utils.set_random_seed(seed)
  model = cola_model.Cola(tiny.get_config())
  model.initialize()
  return model


def saved_model(base_dir):
  """The seed model exported as a SavedModel under `base_dir`."""
  path = os.path.join(base_dir, "seed_saved_model")
  if not os.path.exists(os.path.join(path, "saved_model.pb")):
    export.export_saved_model(seed_model().embedding_model(), path)
  return path


def tiny_workdir(base_dir):
  """A finished 4-step COLA tiny run (config.json, checkpoints, SavedModel)."""
  path = os.path.join(base_dir, "tiny_workdir")
  if not os.path.exists(os.path.join(path, "train_summary.json")):
    trainer.train(tiny.get_config(), workdir=path, verbose=0)
  return path
