"""`python -m multimodal.train`: the run's artifacts and the SavedModel of
the audio side, mirrored on two logical CPUs through the command line with
a SIGKILL and a resume, the NaN stop, and one-line errors."""

import json
import os
import subprocess

import numpy as np
import pytest
import tensorflow as tf

from common.serve import export
from common.train import callbacks
from common.train import runs
from common.train import trainer
from multimodal.configs import tiny
from multimodal import model as model_lib
from tests import processes

PAIRS = ("wave_mel", "wave_video", "mel_video")


def test_tiny_run_leaves_checkpoints_logs_and_an_audio_saved_model(tmp_path):
  workdir = str(tmp_path / "run")
  summary = trainer.train(tiny.get_config(), workdir=workdir, verbose=0)
  assert summary["steps"] == 4 and summary["method"] == "multimodal"
  assert set(summary["final_metrics"]) == {"loss"} | {
      f"{p}_{m}" for p in PAIRS for m in ("loss", "accuracy")}
  index = callbacks.read_index(os.path.join(workdir, "checkpoints"))
  assert index["step"] == 4
  assert os.listdir(os.path.join(workdir, "logs", "train"))
  with open(os.path.join(workdir, "config.json")) as f:
    assert json.load(f)["mixing"]["enabled"] is True
  # The same signatures as COLA's: any length in, windows of 1 s.
  loaded = tf.saved_model.load(summary["saved_model"])
  serve = loaded.signatures["serving_default"]
  windows = loaded.signatures["window_embeddings"]
  for samples, count in [(8000, 1), (16000, 1), (52800, 3)]:
    x = tf.random.uniform([2, samples], -0.5, 0.5, seed=1)
    assert serve(waveform=x)["embedding"].shape == (2, 16)
    assert windows(waveform=x)["embeddings"].shape == (2, count, 16)
  assert int(loaded.embedding_size.numpy()) == 16
  # Rebuilt from config.json and the last checkpoint: the same embeddings.
  again = runs.export_workdir(workdir, str(tmp_path / "exported"))
  x = tf.random.uniform([2, 20000], -0.5, 0.5, seed=2)
  np.testing.assert_allclose(
      tf.saved_model.load(again).signatures["serving_default"](
          waveform=x)["embedding"].numpy(),
      serve(waveform=x)["embedding"].numpy(), rtol=1e-5, atol=1e-6)


def test_concatenated_export_holds_both_audio_formats(tmp_path):
  config = tiny.get_config()
  config.export_embedding = "concat"
  tf.keras.utils.set_random_seed(0)
  model = model_lib.Multimodal(config)
  model.initialize()
  path = export.export_saved_model(model.embedding_model(),
                                   str(tmp_path / "saved_model"))
  x = np.random.default_rng(0).uniform(-0.5, 0.5, [2, 16000]).astype(
      np.float32)
  got = tf.saved_model.load(path).signatures["serving_default"](
      waveform=x)["embedding"].numpy()
  assert got.shape == (2, 32)
  want = np.concatenate([model.mel_encoder(model.frontend(x)),
                         model.wave_encoder(model.frontend.level(x))], -1)
  np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)
  # No mixing outside training: a clip's embedding ignores its batch.
  np.testing.assert_allclose(model(x[:1]).numpy()[0], got[0], rtol=1e-5,
                             atol=1e-5)


def test_audio_only_training_builds_no_video_encoder():
  config = tiny.get_config()
  config.pair_weights.wave_video = config.pair_weights.mel_video = 0.0
  model = model_lib.Multimodal(config)
  model.initialize()
  assert model.video_encoder is None
  assert [m.name for m in model.metrics] == [
      "loss", "wave_mel_loss", "wave_mel_accuracy"]
  with pytest.raises(ValueError, match="every pair has weight 0"):
    config.pair_weights.wave_mel = 0.0
    model_lib.Multimodal(config)


def test_mirrored_run_killed_and_resumed_from_the_command_line(
    tmp_path, child_env):
  workdir = tmp_path / "run"
  command = processes.train_command(
      "multimodal", workdir, "--strategy=mirrored", "--cpu_devices=2",
      "--config.total_steps=12", "--config.steps_per_epoch=4",
      "--config.mixing.max_ratio=0.3")
  killed_at = processes.kill_after_checkpoint(command, child_env, workdir, 4)
  second = subprocess.run(command, env=child_env, capture_output=True,
                          text=True, timeout=300)
  assert second.returncode == 0, second.stderr[-3000:]
  if killed_at < 12:
    assert "resumed from" in second.stderr
  with open(workdir / "train_summary.json") as f:
    summary = json.load(f)
  assert summary["steps"] == 12 and summary["replicas"] == 2
  with open(workdir / "config.json") as f:
    assert json.load(f)["mixing"]["max_ratio"] == 0.3


def test_nan_loss_stops_naming_the_step(tmp_path):
  config = tiny.get_config()
  config.total_steps = 40
  config.learning_rate = 1e30
  workdir = str(tmp_path / "run")
  with pytest.raises(callbacks.TrainingDiverged, match=r"at step \d+"):
    trainer.train(config, workdir=workdir, verbose=0)
  assert not os.path.exists(os.path.join(workdir, "saved_model"))


def test_tpu_without_a_tpu_is_a_one_line_error(tmp_path, child_env):
  result = subprocess.run(
      processes.train_command("multimodal", tmp_path / "run",
                              "--strategy=tpu"), env=child_env,
      capture_output=True, text=True, timeout=300)
  assert result.returncode == 1
  assert "--strategy=tpu: no TPU found" in result.stderr
  error_lines = [l for l in result.stderr.splitlines()
                 if l.startswith("error:")]
  assert len(error_lines) == 1 and "Traceback" not in result.stderr


def test_a_bad_mixing_value_stops_before_training(tmp_path):
  config = tiny.get_config()
  config.mixing.max_ratio = 0.7
  with pytest.raises(ValueError, match="dominated by its own content"):
    trainer.train(config, workdir=str(tmp_path / "run"), verbose=0)
  assert not os.path.exists(tmp_path / "run" / "checkpoints")
