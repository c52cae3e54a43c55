"""common.train.runs: the one way tools rebuild a run's model."""

import numpy as np
import pytest

from cola.configs import tiny
from common.serve import loader
from common.train import runs
from common.train import trainer


@pytest.fixture(scope="module")
def workdir(tmp_path_factory):
  config = tiny.get_config()
  config.total_steps = 4
  config.steps_per_epoch = 2
  path = str(tmp_path_factory.mktemp("runs") / "run")
  trainer.train(config, workdir=path, verbose=0)
  return path


def _weights(model):
  return np.concatenate([np.ravel(w) for w in model.get_weights()])


def test_restore_loads_the_last_checkpoint(workdir):
  config, model = runs.restore_model(workdir)
  assert int(model.optimizer.iterations.numpy()) == 4
  assert config.total_steps == 4
  assert runs.last_checkpoint(workdir).endswith("ckpt-00000004.weights.h5")


def test_untrained_restores_are_seeded_and_differ_from_the_trained(workdir):
  _, trained = runs.restore_model(workdir)
  _, first = runs.restore_model(workdir, pretrained=False, seed=3)
  _, again = runs.restore_model(workdir, pretrained=False, seed=3)
  np.testing.assert_array_equal(_weights(first), _weights(again))
  assert not np.allclose(_weights(first), _weights(trained))


def test_no_checkpoint_and_no_workdir_are_clear_errors(tmp_path, workdir):
  with pytest.raises(FileNotFoundError, match="not a training workdir"):
    runs.restore_model(str(tmp_path))
  empty = tmp_path / "empty"
  empty.mkdir()
  (empty / "config.json").write_text(open(f"{workdir}/config.json").read())
  with pytest.raises(FileNotFoundError, match="no checkpoint to load"):
    runs.restore_model(str(empty))


def test_the_loader_takes_exports_and_points_workdirs_to_runs(workdir):
  model = loader.load(runs.saved_model_of(workdir))
  assert model.embedding_size == (
      runs.read_config(workdir).encoder_kwargs.embedding_dim)
  with pytest.raises(FileNotFoundError,
                     match="a training workdir: open it with "
                     "common.train.runs.saved_model_of"):
    loader.load(workdir)
