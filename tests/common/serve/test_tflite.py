"""TFLite conversion, and one embedding from SavedModel, TFLite and HEAR.

Tolerance: TFLite (XNNPACK on CPU) against the SavedModel to 1e-5 absolute
(measured: about 2e-7 on embeddings of magnitude 0.5).
"""

import os
import subprocess
import sys

import numpy as np
import pytest
import soundfile
import tensorflow as tf

from common.eval import hear
from common.serve import tflite
from tests import seed_models

TOLERANCE = 1e-5


def interpreter(path):
  return tflite.interpreter(model_path=path)  # LiteRT's.


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
  return seed_models.saved_model(str(tmp_path_factory.getbasetemp()))


@pytest.fixture(scope="module")
def lite(saved, tmp_path_factory):
  return tflite.convert(saved, str(tmp_path_factory.mktemp("lite") /
                                   "model.tflite"))


def test_tflite_matches_the_saved_model(saved, lite):
  runner = interpreter(lite)
  assert set(runner.get_signature_list()) == {"serving_default",
                                              "window_embeddings"}
  serve = tf.saved_model.load(saved).signatures["serving_default"]
  x = np.random.default_rng(0).uniform(-0.5, 0.5, [1, 16000]).astype(
      np.float32)
  got = runner.get_signature_runner("serving_default")(waveform=x)
  want = serve(waveform=x)["embedding"].numpy()
  np.testing.assert_allclose(got["embedding"], want, atol=TOLERANCE, rtol=0)
  windows = runner.get_signature_runner("window_embeddings")(waveform=x)
  np.testing.assert_allclose(windows["embeddings"][:, 0], want,
                             atol=TOLERANCE, rtol=0)
  np.testing.assert_allclose(windows["timestamps_ms"], [[500.0]], atol=1e-3)


def test_saved_model_tflite_and_hear_agree(saved, tmp_path):
  """One 3 s clip through the three: SavedModel serving_default, a TFLite
  model converted at 3 s, and HEAR's scene embedding."""
  x = np.random.default_rng(1).uniform(-0.5, 0.5, [1, 48000]).astype(
      np.float32)
  want = tf.saved_model.load(saved).signatures["serving_default"](
      waveform=x)["embedding"].numpy()
  lite = tflite.convert(saved, str(tmp_path / "3s.tflite"), clip_seconds=3.0)
  got_lite = interpreter(lite).get_signature_runner("serving_default")(
      waveform=x)["embedding"]
  got_hear = hear.get_scene_embeddings(x, hear.load_model(saved)).numpy()
  np.testing.assert_allclose(got_lite, want, atol=TOLERANCE, rtol=0)
  np.testing.assert_allclose(got_hear, want, atol=TOLERANCE, rtol=0)


def test_window_embedder_equals_one_window_at_a_time(saved, lite, tmp_path):
  """What bulk extraction relies on (docs/evaluate.md): a model converted
  at 3 s embeds 3 non-overlapping windows laid end to end exactly as the
  1 s model embeds each alone; WindowEmbedder's parallel interpreters keep
  the order, and pad a short last group without changing its windows."""
  windows = np.random.default_rng(2).uniform(-0.5, 0.5, [7, 16000]).astype(
      np.float32)
  one = interpreter(lite).get_signature_runner("window_embeddings")
  singles = np.concatenate([one(waveform=w[np.newaxis])["embeddings"][0]
                            for w in windows])
  three = tflite.convert(saved, str(tmp_path / "3s.tflite"), clip_seconds=3.0)
  for workers in (1, 2, 3):
    embedder = tflite.WindowEmbedder(three, workers=workers)
    assert embedder.group == 3 and embedder.window == 16000
    np.testing.assert_allclose(embedder.embed(windows), singles,
                               atol=TOLERANCE, rtol=0)
  np.testing.assert_allclose(embedder.embed(windows[:1]), singles[:1],
                             atol=TOLERANCE, rtol=0)
  with pytest.raises(ValueError, match=r"\[n, 16000\]"):
    embedder.embed(windows[:, :8000])


def test_export_cli_writes_saved_model_and_tflite(tmp_path_factory, tmp_path,
                                                  child_env):
  workdir = seed_models.tiny_workdir(str(tmp_path_factory.getbasetemp()))
  output = str(tmp_path / "exported")
  result = subprocess.run(
      [sys.executable, "-m", "common.export", f"--model={workdir}",
       f"--output={output}", "--tflite"], env=child_env, capture_output=True,
      text=True, timeout=600)
  assert result.returncode == 0, result.stderr[-3000:]
  assert os.path.exists(os.path.join(output, "saved_model.pb"))
  assert os.path.exists(output + ".tflite")
  assert "TFLite model written to" in result.stdout
  x = np.random.default_rng(2).uniform(-0.5, 0.5, [1, 16000]).astype(
      np.float32)
  want = tf.saved_model.load(output).signatures["serving_default"](
      waveform=x)["embedding"].numpy()
  got = interpreter(output + ".tflite").get_signature_runner(
      "serving_default")(waveform=x)["embedding"]
  np.testing.assert_allclose(got, want, atol=TOLERANCE, rtol=0)


def test_int8_model_is_integer_inside_and_embeds_like_the_float_one(
    saved, tmp_path, child_env):
  """Full-integer conversion calibrated on audio files: float32 waveform
  in and embedding out, the convolutions run on int8 tensors, and the
  embeddings point where the float model's do."""
  clips = tmp_path / "calibration"
  clips.mkdir()
  rng = np.random.default_rng(3)
  t = np.arange(16000) / 16000
  for i in range(12):
    tone = np.sin(2 * np.pi * (150 + 60 * i) * t) * rng.uniform(0.1, 0.8)
    soundfile.write(clips / f"{i}.wav", (tone + 0.02 * rng.standard_normal(
        16000)).astype(np.float32), 16000)
  path = str(tmp_path / "model.int8.tflite")
  tflite.convert(saved, path, calibration=f"files:{clips}")
  runner = interpreter(path)
  serve = runner.get_signature_runner("serving_default")
  assert serve.get_input_details()["waveform"]["dtype"] == np.float32
  assert serve.get_output_details()["embedding"]["dtype"] == np.float32
  tensors = {t["index"]: t for t in runner.get_tensor_details()}
  convs = [op for op in runner._get_ops_details()  # pylint: disable=protected-access
           if op["op_name"] == "CONV_2D"]
  assert convs and all(tensors[op["inputs"][1]]["dtype"] == np.int8
                       for op in convs)  # int8 weights,
  assert all(tensors[op["inputs"][0]]["dtype"] == np.int8
             for op in convs)  # and int8 activations.
  float_model = tf.saved_model.load(saved).signatures["serving_default"]
  x = np.stack([np.sin(2 * np.pi * f * t) * 0.5 for f in (180, 420, 900)]
               ).astype(np.float32)
  want = float_model(waveform=x)["embedding"].numpy()
  got = np.concatenate([serve(waveform=w[None])["embedding"] for w in x])
  cosine = np.sum(got * want, 1) / (np.linalg.norm(got, axis=1) *
                                    np.linalg.norm(want, axis=1))
  assert np.all(cosine > 0.9), cosine
  # Silence and a quiet sound: the level step stays float, so neither
  # divides by an int8 zero nor loses the sound to 8 bits.
  assert np.all(np.isfinite(serve(waveform=0 * x[:1])["embedding"]))
  quiet = serve(waveform=1e-4 * x[:1])["embedding"][0]
  reference = float_model(waveform=1e-4 * x[:1])["embedding"].numpy()[0]
  assert quiet @ reference / (np.linalg.norm(quiet) *
                              np.linalg.norm(reference)) > 0.9
  windows = runner.get_signature_runner("window_embeddings")
  assert np.all(np.isfinite(windows(waveform=0 * x[:1])["embeddings"]))


def test_int8_export_needs_calibration_audio(tmp_path, child_env):
  workdir = seed_models.tiny_workdir(str(tmp_path))
  result = subprocess.run(
      [sys.executable, "-m", "common.export", f"--workdir={workdir}",
       f"--output={tmp_path / 'sm'}", "--tflite_int8"], env=child_env,
      capture_output=True, text=True, timeout=300)
  assert result.returncode == 1
  assert "--tflite_int8 needs --calibration" in result.stderr
