"""The HEAR API module: the official HEAR 2021 validator (`hear-validator`
from PyPI's hearvalidator, which imports PyTorch: the test extra installs
torch 2.13.0, the CPU build) run on it as a command, its checks applied
in-process too (same inputs: 16 clips of 2 s white noise for timestamps,
8 of 3.74 s for scenes), and the API's own rules: timestamps in ms,
centred windows, regular hops of at most 50 ms, never past the clip's
end, 0.3 s to 10 min inputs, int16 PCM scaled to [-1, 1].
"""

import subprocess
import sys

import numpy as np
import pytest
import tensorflow as tf

from common.eval import hear
from tests import seed_models

VALIDATOR_RATES = (16000, 22050, 44100, 48000)


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
  return seed_models.saved_model(str(tmp_path_factory.getbasetemp()))


@pytest.fixture(scope="module")
def model(saved):
  return hear.load_model(saved)


def test_the_official_hear_validator_accepts_the_module(saved, child_env):
  result = subprocess.run(
      [sys.executable, "-m", "hearvalidator.validate", "common.hear",
       "-m", saved, "-d", "cpu"], env=child_env, capture_output=True,
      text=True, timeout=600)
  assert result.returncode == 0, (result.stdout + result.stderr)[-3000:]
  assert "Checking get_scene_embeddings" in result.stdout, result.stdout
  assert "Received tensorflow Module" in result.stdout, result.stdout
  assert result.stdout.strip().endswith("Looks good!"), result.stdout[-500:]


def test_int16_pcm_is_scaled_and_other_integers_are_refused(model):
  rng = np.random.default_rng(0)
  pcm = rng.integers(-20000, 20000, [2, model.sample_rate], dtype=np.int16)
  np.testing.assert_allclose(
      hear.get_scene_embeddings(pcm, model).numpy(),
      hear.get_scene_embeddings(pcm / 32768.0, model).numpy(), atol=1e-6)
  with pytest.raises(ValueError, match="int32"):
    hear.get_scene_embeddings(pcm.astype(np.int32), model)


def test_validator_rules(model):
  assert isinstance(model, tf.Module)
  assert isinstance(model.sample_rate, int)
  assert model.sample_rate in VALIDATOR_RATES
  assert isinstance(model.scene_embedding_size, int)
  assert isinstance(model.timestamp_embedding_size, int)
  audio = tf.random.uniform([16, 2 * model.sample_rate]) * 2 - 1
  embeddings, stamps = hear.get_timestamp_embeddings(audio, model)
  assert embeddings.dtype == tf.float32
  assert embeddings.shape[0] == 16
  assert embeddings.shape[:2] == stamps.shape
  assert embeddings.shape[2] == model.timestamp_embedding_size
  diff = stamps[:, 1:] - stamps[:, :-1]
  average = float(tf.reduce_mean(diff))
  assert average <= 50.0
  assert bool(tf.reduce_all(tf.abs(diff - average) < 1e-3))
  audio = tf.random.uniform([8, int(3.74 * model.sample_rate)]) * 2 - 1
  scene = hear.get_scene_embeddings(audio, model)
  assert scene.dtype == tf.float32
  assert scene.shape == (8, model.scene_embedding_size)


@pytest.mark.parametrize("seconds", [0.3, 1.0, 1.23, 2.5])
def test_timestamps_are_centred_and_never_past_the_end(model, saved, seconds):
  rate = model.sample_rate
  samples = int(seconds * rate)
  audio = np.random.default_rng(0).uniform(-0.5, 0.5, [2, samples]).astype(
      np.float32)
  embeddings, stamps = hear.get_timestamp_embeddings(audio, model)
  stamps = stamps.numpy()
  assert stamps[0, 0] == 0.0
  assert stamps[0, -1] <= 1000.0 * samples / rate
  assert stamps[0, -1] + 50.0 > 1000.0 * samples / rate
  np.testing.assert_allclose(np.diff(stamps[0]), 50.0, atol=1e-3)
  # The embedding at t is the encoder's on the window centred on t.
  serve = tf.saved_model.load(saved).signatures["serving_default"]
  padded = np.pad(audio[1], (8000, 8000))
  for k in (0, len(stamps[0]) // 2, len(stamps[0]) - 1):
    start = int(round(stamps[0, k] * rate / 1000.0))
    want = serve(waveform=padded[np.newaxis, start:start + 16000])
    np.testing.assert_allclose(embeddings[1, k], want["embedding"][0],
                               rtol=1e-5, atol=1e-5)


def test_scene_embeddings_are_the_saved_models(model, saved):
  audio = np.random.default_rng(1).uniform(-0.5, 0.5, [3, 40000]).astype(
      np.float32)
  serve = tf.saved_model.load(saved).signatures["serving_default"]
  want = serve(waveform=audio)["embedding"].numpy()
  got = hear.get_scene_embeddings(audio, model).numpy()
  np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)


def test_load_model_needs_a_path():
  with pytest.raises(ValueError, match="SavedModel directory"):
    hear.load_model()


@pytest.mark.slow
def test_long_clip_in_bounded_memory(saved, child_env):
  """Peak memory does not grow with the clip: after a 30 s clip (whose
  batches of windows set the peak), a 2 minute clip, whose 2,401 windows of
  1 s would be 154 MB at once, adds little more than the clip itself (peak
  RSS in a fresh process). 10 minutes behave the same, only slower."""
  script = (
      "import resource, sys, numpy as np\n"
      "from common import hear\n"
      "m = hear.load_model(sys.argv[1])\n"
      "warm = np.random.default_rng(1).uniform(-.5, .5, [1, 30 * 16000])\n"
      "hear.get_timestamp_embeddings(warm, m), hear.get_scene_embeddings("
      "warm, m)\n"
      "base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss\n"
      "audio = np.random.default_rng(0).uniform(-.5, .5, [1, 120 * 16000])"
      ".astype(np.float32)\n"
      "e, t = hear.get_timestamp_embeddings(audio, m)\n"
      "s = hear.get_scene_embeddings(audio, m)\n"
      "peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss\n"
      "print(e.shape[1], t.numpy()[0, -1], s.shape, (peak - base) // 1024)\n")
  result = subprocess.run([sys.executable, "-c", script, saved],
                          env=child_env, capture_output=True, text=True,
                          timeout=600)
  assert result.returncode == 0, result.stderr[-2000:]
  windows, last, _, _, grown_mb = result.stdout.split()[-5:]
  assert int(windows) == 2401 and float(last) == 120000.0
  # The clip is 8 MB (15 MB as drawn in float64, 8 MB padded).
  assert int(grown_mb) < 80, result.stdout
