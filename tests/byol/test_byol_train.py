"""`python -m byol.train`: a run that trains, exports, serves (SavedModel in
a fresh process, float and int8 TFLite, HEAR) and resumes like the other
methods, its target network included."""

import json
import os
import subprocess
import sys

import numpy as np
import tensorflow as tf

from byol.configs import tiny
from common.eval import hear
from common.serve import tflite
from common.train import runs
from common.train import trainer
from tests import processes


def test_a_run_restores_its_own_target_not_a_fresh_copy(tmp_path):
  workdir = str(tmp_path / "run")
  summary = trainer.train(tiny.get_config(), workdir=workdir, verbose=0)
  assert summary["steps"] == 4 and summary["method"] == "byol"
  assert set(summary["final_metrics"]) == {"loss", "cosine"}
  _, model = runs.restore_model(workdir)
  moved = [not np.allclose(t.numpy(), o.numpy())
           for t, o in model._pairs() if o.trainable]
  assert any(moved)  # Four steps apart: the target lags the online side.


def test_the_saved_model_tflite_and_hear_embed_alike(tmp_path, child_env):
  workdir = tmp_path / "run"
  result = subprocess.run(processes.train_command("byol", workdir),
                          env=child_env, capture_output=True, text=True,
                          timeout=300)
  assert result.returncode == 0, result.stderr[-3000:]
  assert "done: 4 steps" in result.stderr + result.stdout
  saved = str(workdir / "saved_model")
  x = np.random.default_rng(0).uniform(-0.3, 0.3, [1, 16000]).astype(
      np.float32)
  want = tf.saved_model.load(saved).signatures["serving_default"](
      waveform=tf.constant(x))["embedding"].numpy()
  # Only the online encoder is exported: 16-d (tiny), no projector,
  # predictor or target variables.
  assert want.shape == (1, 16)
  with open(workdir / "config.json") as f:
    assert json.load(f)["method"] == "byol"
  names = [name for name, _ in tf.train.list_variables(
      os.path.join(saved, "variables", "variables"))]
  assert any("mel_encoder" in n for n in names), names
  assert not [n for n in names if "target" in n or "projector" in n or
              "predictor" in n], names
  lite = tflite.convert(saved, str(tmp_path / "m.tflite"))
  int8 = tflite.convert(saved, str(tmp_path / "m.int8.tflite"),
                        calibration="synthetic:16")
  for path, tolerance in ((lite, 1e-4), (int8, None)):
    interpreter = tflite.interpreter(model_path=path)
    runner = interpreter.get_signature_runner("serving_default")
    got = runner(waveform=x)["embedding"]
    if tolerance:
      np.testing.assert_allclose(got, want, rtol=tolerance, atol=tolerance)
    else:
      cosine = float(np.sum(got * want) / np.linalg.norm(got) /
                     np.linalg.norm(want))
      assert cosine > 0.9, cosine
  model = hear.load_model(str(workdir))
  scene = hear.get_scene_embeddings(tf.constant(x), model).numpy()
  np.testing.assert_allclose(scene, want, rtol=1e-4, atol=1e-5)


def test_a_killed_mirrored_run_resumes(tmp_path, child_env):
  workdir = tmp_path / "run"
  command = processes.train_command(
      "byol", workdir, "--strategy=mirrored", "--cpu_devices=2",
      "--config.total_steps=12", "--config.steps_per_epoch=4")
  killed_at = processes.kill_after_checkpoint(command, child_env, workdir, 4)
  second = subprocess.run(command, env=child_env, capture_output=True,
                          text=True, timeout=300)
  assert second.returncode == 0, second.stderr[-3000:]
  if killed_at < 12:
    assert "resumed from" in second.stderr
  with open(workdir / "train_summary.json") as f:
    summary = json.load(f)
  assert summary["steps"] == 12 and summary["replicas"] == 2
