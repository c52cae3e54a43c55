"""The SavedModel contract: signatures, shapes, windows, fresh-process use."""

import os
import shutil
import subprocess
import sys

import numpy as np
import pytest
import tensorflow as tf

from cola.configs import tiny
from cola import model as cola_model
from common.io import plugins
from common.serve import export


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
  tf.keras.utils.set_random_seed(0)
  model = cola_model.Cola(tiny.get_config())
  model.initialize()
  path = str(tmp_path_factory.mktemp("export") / "saved_model")
  export.export_saved_model(model.embedding_model(), path)
  return model, path


def test_signatures_and_shapes_for_any_length(exported):
  _, path = exported
  loaded = tf.saved_model.load(path)
  serve = loaded.signatures["serving_default"]
  windows = loaded.signatures["window_embeddings"]
  for samples, count in [(100, 1), (8000, 1), (16000, 1), (16001, 1),
                         (52800, 3)]:
    out = serve(waveform=tf.random.uniform([2, samples], -0.5, 0.5))
    assert out["embedding"].shape == (2, 16)
    out = windows(waveform=tf.zeros([2, samples]))
    assert out["embeddings"].shape == (2, count, 16)
    assert out["timestamps_ms"].shape == (2, count)
  stamps = windows(waveform=tf.zeros([1, 52800]))["timestamps_ms"].numpy()
  np.testing.assert_allclose(stamps[0], [500, 1500, 2500])
  short = windows(waveform=tf.zeros([1, 8000]))["timestamps_ms"].numpy()
  np.testing.assert_allclose(short[0], [250])  # centre of the 0.5 s clip
  assert int(loaded.sample_rate.numpy()) == 16000
  assert int(loaded.embedding_size.numpy()) == 16


def test_clip_embedding_is_the_mean_of_window_encoder_outputs(exported):
  model, path = exported
  loaded = tf.saved_model.load(path)
  x = np.random.default_rng(0).uniform(-0.5, 0.5, [1, 48000]).astype(
      np.float32)
  want = model(x.reshape(3, 16000)).numpy().mean(axis=0)
  got = loaded.signatures["serving_default"](waveform=x)["embedding"]
  np.testing.assert_allclose(got.numpy()[0], want, rtol=1e-5, atol=1e-5)


PROJECT_PACKAGES = ("common", *plugins.method_packages())


def test_loads_in_a_fresh_process_with_only_tensorflow(
    exported, child_env, tmp_path):
  model, path = exported
  x = np.random.default_rng(1).uniform(-0.5, 0.5, [2, 20000]).astype(
      np.float32)
  want = model(x[:, :16000]).numpy()  # 1.25 s clips hold one 1 s window
  np.save(tmp_path / "x.npy", x)
  script = (
      "import sys, numpy as np, tensorflow as tf\n"
      "m = tf.saved_model.load(sys.argv[1])\n"
      "x = np.load(sys.argv[2])\n"
      "out = m.signatures['serving_default'](waveform=tf.constant(x))\n"
      "np.save(sys.argv[3], out['embedding'].numpy())\n"
      f"assert not any(n.split('.')[0] in {PROJECT_PACKAGES!r}"
      " for n in sys.modules), 'imported project code'\n")
  env = dict(child_env)
  env.pop("PYTHONPATH", None)
  result = subprocess.run(
      [sys.executable, "-c", script, path, str(tmp_path / "x.npy"),
       str(tmp_path / "y.npy")], env=env, cwd="/", capture_output=True,
      text=True, timeout=300)
  assert result.returncode == 0, result.stderr[-2000:]
  np.testing.assert_allclose(np.load(tmp_path / "y.npy"), want, rtol=1e-5,
                             atol=1e-5)


def test_saved_model_cli_lists_both_signatures(exported, child_env):
  _, path = exported
  cli = shutil.which("saved_model_cli")
  command = ([cli] if cli else [sys.executable, "-m",
                                "tensorflow.python.tools.saved_model_cli"])
  result = subprocess.run(command + ["show", "--dir", path, "--all"],
                          env=child_env, capture_output=True, text=True,
                          timeout=300)
  assert result.returncode == 0, result.stderr[-2000:]
  assert "signature_def['serving_default']" in result.stdout
  assert "signature_def['window_embeddings']" in result.stdout
  assert "outputs['timestamps_ms']" in result.stdout


def test_export_replaces_an_existing_saved_model_atomically(exported):
  model, path = exported
  export.export_saved_model(model.embedding_model(), path)
  leftovers = [p for p in os.listdir(os.path.dirname(path))
               if ".tmp-" in p or ".old-" in p]
  assert not leftovers
  x = np.random.default_rng(2).uniform(-0.5, 0.5, [2, 16000]).astype(
      np.float32)
  served = tf.saved_model.load(path).signatures["serving_default"](
      waveform=tf.constant(x))["embedding"].numpy()
  np.testing.assert_allclose(served, model(x).numpy(), rtol=1e-5, atol=1e-5)
