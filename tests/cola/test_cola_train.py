"""`python -m cola.train`: artifacts, resume after SIGKILL, NaN stop, errors."""

import json
import os
import subprocess
import sys

import keras
import numpy as np
import pytest
import tensorflow as tf

from cola.configs import tiny
from common.train import callbacks
from common.train import trainer
from tests import processes

def test_tiny_run_leaves_checkpoints_logs_and_saved_model(tmp_path):
  workdir = str(tmp_path / "run")
  summary = trainer.train(tiny.get_config(), workdir=workdir, verbose=0)
  assert summary["steps"] == 4 and summary["steps_this_run"] == 4
  index = callbacks.read_index(os.path.join(workdir, "checkpoints"))
  assert index["step"] == 4 and index["epoch"] == 2
  assert os.path.exists(os.path.join(workdir, "checkpoints", index["weights"]))
  assert os.listdir(os.path.join(workdir, "logs", "train"))
  assert os.path.exists(os.path.join(workdir, "saved_model", "saved_model.pb"))
  with open(os.path.join(workdir, "config.json")) as f:
    assert json.load(f)["method"] == "cola"
  # The same command again finds the run complete and trains no more.
  again = trainer.train(tiny.get_config(), workdir=workdir, verbose=0)
  assert again["steps"] == 4 and again["steps_this_run"] == 0
  assert again["final_metrics"] == summary["final_metrics"]


def test_resumed_run_takes_a_changed_learning_rate(tmp_path):
  """The checkpoint stores the optimizer's learning rate; the config's
  value wins on resume (the run warns that its config changed)."""
  workdir = str(tmp_path / "run")
  trainer.train(tiny.get_config(), workdir=workdir, verbose=0)
  seen = []

  class RecordRate(keras.callbacks.Callback):
    def on_train_batch_begin(self, step, logs=None):
      seen.append(float(self.model.optimizer.learning_rate.numpy()))

  config = tiny.get_config()
  config.total_steps, config.learning_rate = 6, 5e-4
  summary = trainer.train(config, workdir=workdir, verbose=0,
                           callbacks=[RecordRate()])
  assert summary["steps_this_run"] == 2
  np.testing.assert_allclose(seen, [5e-4, 5e-4], rtol=1e-6)


def test_a_resume_names_the_learning_rate_only_when_it_changed(
    tmp_path, caplog):
  from absl import logging as absl_logging
  before = absl_logging.get_verbosity()
  absl_logging.set_verbosity(absl_logging.INFO)
  try:
    _check_learning_rate_lines(str(tmp_path / "run"), caplog)
  finally:
    absl_logging.set_verbosity(before)


def _check_learning_rate_lines(workdir, caplog):
  trainer.train(tiny.get_config(), workdir=workdir, verbose=0)
  config = tiny.get_config()
  config.total_steps = 6
  with caplog.at_level("INFO"):
    trainer.train(config, workdir=workdir, verbose=0)
  said = [r.getMessage() for r in caplog.records]
  assert any("resumed from" in m for m in said)
  assert not any("(the config's)" in m for m in said), said
  caplog.clear()
  config.total_steps, config.learning_rate = 8, 5e-4
  with caplog.at_level("INFO"):
    trainer.train(config, workdir=workdir, verbose=0)
  assert any("learning rate 0.0005 (the config's), not the checkpoint's "
             "0.0003" in r.getMessage() for r in caplog.records)


def test_export_command_rebuilds_the_trained_model(tmp_path, child_env):
  workdir = tmp_path / "run"
  trainer.train(tiny.get_config(), workdir=str(workdir), verbose=0)
  result = subprocess.run(
      [sys.executable, "-m", "common.export", f"--workdir={workdir}",
       f"--output={tmp_path / 'exported'}"], env=child_env,
      capture_output=True, text=True, timeout=300)
  assert result.returncode == 0, result.stderr[-3000:]
  x = tf.random.uniform([2, 24000], -0.5, 0.5, seed=3)
  embed = [tf.saved_model.load(str(p)).signatures["serving_default"]
           for p in (workdir / "saved_model", tmp_path / "exported")]
  np.testing.assert_allclose(embed[1](waveform=x)["embedding"].numpy(),
                             embed[0](waveform=x)["embedding"].numpy(),
                             rtol=1e-5, atol=1e-6)


def test_killed_run_resumes_from_its_last_checkpoint(tmp_path, child_env):
  workdir = tmp_path / "run"
  command = processes.train_command("cola", workdir,
                                    "--config.total_steps=40",
                                    "--config.steps_per_epoch=4")
  killed_at = processes.kill_after_checkpoint(command, child_env, workdir, 8)
  assert killed_at < 40
  second = subprocess.run(command, env=child_env, capture_output=True,
                          text=True, timeout=300)
  assert second.returncode == 0, second.stderr[-3000:]
  assert "resumed from" in second.stderr
  with open(workdir / "train_summary.json") as f:
    summary = json.load(f)
  assert summary["steps"] == 40
  assert summary["steps_this_run"] == 40 - killed_at


def test_nan_loss_stops_naming_the_step_and_keeps_last_good_checkpoint(
    tmp_path):
  config = tiny.get_config()
  config.total_steps = 40
  config.learning_rate = 1e30  # Adam steps of 1e30 overflow within steps.
  workdir = str(tmp_path / "run")
  with pytest.raises(callbacks.TrainingDiverged, match=r"at step \d+"):
    trainer.train(config, workdir=workdir, verbose=0)
  assert not os.path.exists(os.path.join(workdir, "saved_model"))


@pytest.mark.parametrize("args,message", [
    (["--strategy=tpu"], "--strategy=tpu: no TPU found"),
    # A named TPU is looked up over the network, which is unreachable.
    (["--strategy=tpu", "--tpu=my-tpu"],
     "--strategy=tpu: no TPU named 'my-tpu' found"),
    (["--strategy=gpu"], "--strategy=gpu: no GPU is visible"),
])
def test_absent_hardware_is_a_one_line_error(tmp_path, child_env, args,
                                             message):
  result = subprocess.run(
      processes.train_command("cola", tmp_path / "run", *args),
      env=child_env, capture_output=True, text=True, timeout=300)
  assert result.returncode == 1
  assert message in result.stderr
  error_lines = [l for l in result.stderr.splitlines()
                 if l.startswith("error:")]
  assert len(error_lines) == 1 and "Traceback" not in result.stderr
  assert result.stderr.count(message) == 1  # Not logged a second time.
