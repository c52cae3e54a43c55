"""A loss that turns NaN stops the command with one line naming the step;
the last checkpoint predates it, loads and exports, and the SavedModel of
the run is not replaced by diverged weights.

(tests/cola/test_cola_train.py checks the in-process stop; this drives the
command line on a run that had trained well before the NaN was injected.)
"""

import os
import re
import subprocess

import numpy as np
import tensorflow as tf

from cola.configs import tiny
from common.train import callbacks
from common.train import method as method_lib
from common.train import runs
from common.train import trainer
from tests import processes

ROOT = processes.ROOT


def test_injected_nan_stops_naming_the_step_and_keeps_the_last_good_state(
    tmp_path, child_env):
  workdir = str(tmp_path / "run")
  trainer.train(tiny.get_config(), workdir=workdir, verbose=0)
  pb = os.path.join(workdir, "saved_model", "saved_model.pb")
  exported = os.stat(pb).st_mtime_ns
  # Resume the run for more steps with infinite noise on the positives:
  # from the first resumed step on, the loss is NaN.
  result = subprocess.run(
      processes.train_command("cola", workdir, "--config.total_steps=40",
                              "--config.noise_stddev=inf"),
      cwd=ROOT, env=child_env, capture_output=True, text=True, timeout=300)
  assert result.returncode == 1, result.stderr[-3000:]
  errors = [l for l in result.stderr.splitlines() if l.startswith("error:")]
  assert len(errors) == 1 and "Traceback" not in result.stderr, errors
  match = re.match(r"error: loss became (nan|inf|-inf) at step (\d+); the "
                   r"last checkpoint holds the last good weights$", errors[0])
  assert match, errors[0]
  assert "resumed from ckpt-00000004" in result.stderr
  assert int(match.group(2)) == 5  # The first step on poisoned input.
  index = callbacks.read_index(os.path.join(workdir, "checkpoints"))
  assert index["step"] == 4
  config = runs.read_config(workdir)
  model = method_lib.build_initialized_model(
      method_lib.load(config.method), config)
  model.load_weights(os.path.join(workdir, "checkpoints", index["weights"]))
  assert int(model.optimizer.iterations.numpy()) == index["step"]
  for variable in model.weights:
    assert np.all(np.isfinite(variable.numpy())), variable.path
  # The run's SavedModel is still the one exported before the NaN.
  assert os.stat(pb).st_mtime_ns == exported
  # And the kept checkpoint exports to a model that embeds.
  path = runs.export_workdir(workdir, output=str(tmp_path / "recovered"))
  out = tf.saved_model.load(path).signatures["serving_default"](
      waveform=tf.random.uniform([2, 16000], -0.5, 0.5, seed=1))
  assert np.all(np.isfinite(out["embedding"].numpy()))
