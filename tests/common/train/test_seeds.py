"""Every random choice of a run follows `config.seed`: the same seed trains
the same steps (initialisation, shuffling, crops, mixing partners, noise and
augmentations), another seed trains other ones. Runs here share a process,
which is the harder case: a second iterator of a dataset, or a second run,
must not see another random state."""

import importlib

import keras
import numpy as np
import pytest

from common.io import plugins
from common.train import trainer


class StepLosses(keras.callbacks.Callback):
  def __init__(self):
    super().__init__()
    self.losses = []

  def on_train_batch_end(self, batch, logs=None):
    self.losses.append(float(logs["loss"]))


def step_losses(method, seed, workdir):
  config = importlib.import_module(f"{method}.configs.tiny").get_config()
  config.seed = seed
  record = StepLosses()
  trainer.train(config, workdir=str(workdir), verbose=0, callbacks=[record])
  return record.losses


@pytest.mark.parametrize("method", plugins.method_packages())
def test_a_seed_reproduces_its_run_and_another_seed_does_not(method,
                                                             tmp_path):
  first = step_losses(method, 0, tmp_path / "a")
  again = step_losses(method, 0, tmp_path / "b")
  other = step_losses(method, 1, tmp_path / "c")
  assert len(first) == 4
  np.testing.assert_allclose(again, first, rtol=1e-6)
  assert not np.allclose(other, first, rtol=1e-3)
