"""Serving sees what training saw: the level normalisation and the log-mel
statistics live in the model, so the training path, the exported SavedModel
(in a fresh process) and every tool built on it embed a window the same way,
whatever the clip's length and level."""

import glob
import json
import os
import subprocess
import sys

import keras
import numpy as np
import pytest
import tensorflow as tf

from cola.configs import tiny as cola_tiny
from cola import data as cola_data
from cola import model as cola_model
from common.data import data_sources
from common.io import audio_io
from common.serve import export
from multimodal.configs import tiny as multimodal_tiny
from multimodal import model as multimodal_model
from tests import processes

ROOT = processes.ROOT
REALAUDIO_DEV = os.path.join(os.path.dirname(ROOT), "shared", "realaudio",
                             "dev")


def adapted(model, config):
  """A model whose standardisation was measured on training batches."""
  model.initialize()
  source = data_sources.load("synthetic:16")
  if config.method == "cola":
    dataset = cola_data.pair_dataset(source, config, batch_size=8)
  else:
    dataset = tf.data.Dataset.from_tensor_slices(
        {"audio": np.stack([w[:16000] for w in source.waveforms])}).batch(8)
  model.adapt(dataset)
  return model


@pytest.fixture(scope="module", params=["cola", "multimodal"])
def exported(request, tmp_path_factory):
  keras.utils.set_random_seed(0)
  if request.param == "cola":
    config = cola_tiny.get_config()
    model = adapted(cola_model.Cola(config), config)
  else:
    config = multimodal_tiny.get_config()
    config.export_embedding = "concat"  # Both audio encoders are served.
    model = adapted(multimodal_model.Multimodal(config), config)
  stats = model.frontend.standardize
  assert float(tf.reduce_mean(stats.std)) != 1.0  # Really adapted.
  path = str(tmp_path_factory.mktemp("parity") / "saved_model")
  export.export_saved_model(model.embedding_model(), path)
  return model, path


def serve_in_fresh_process(path, waveforms, tmp_path, signature):
  """Outputs of a SavedModel signature, loaded in a new process."""
  inputs = str(tmp_path / "inputs.npy")
  outputs = str(tmp_path / "outputs.npz")
  np.save(inputs, waveforms)
  code = (
      "import numpy as np, tensorflow as tf\n"
      f"m = tf.saved_model.load({path!r})\n"
      f"x = tf.constant(np.load({inputs!r}))\n"
      f"out = m.signatures[{signature!r}](waveform=x)\n"
      f"np.savez({outputs!r}, **{{k: v.numpy() for k, v in out.items()}})\n")
  env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2")
  subprocess.run([sys.executable, "-c", code], check=True, env=env)
  return dict(np.load(outputs))


def training_path_embedding(model, windows):
  """h as the train step computes it (inference mode): the batch through
  the frontend's level step, then features and encoders."""
  if isinstance(model, cola_model.Cola):
    levelled = model.frontend.level(windows)
    return model.encode_levelled(levelled, training=False).numpy()
  h = model.encode_audio(windows, ("mel", "wave"), training=False)
  return tf.concat([h["mel"], h["wave"]], -1).numpy()


def test_training_path_and_saved_model_embed_a_window_alike(
    exported, tmp_path):
  model, path = exported
  rng = np.random.default_rng(0)
  # A 3.5 s clip at an odd level: the SavedModel cuts three windows; the
  # training pipeline crops the same spans from the raw clip.
  clip = (0.03 * rng.standard_normal(56000) * np.sin(
      np.arange(56000) / 900.0)).astype(np.float32)
  crops = np.stack([clip[k * 16000:(k + 1) * 16000] for k in range(3)])
  want = training_path_embedding(model, tf.constant(crops))
  got = serve_in_fresh_process(path, clip[np.newaxis], tmp_path,
                               "window_embeddings")["embeddings"][0]
  np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-5)
  # The clip embedding is their mean, and a window embeds alike alone.
  alone = serve_in_fresh_process(path, crops, tmp_path,
                                 "serving_default")["embedding"]
  np.testing.assert_allclose(alone, want, rtol=1e-4, atol=1e-5)


def real_clips(count=24):
  """Real recordings of several kinds (speech, music, sound effects)."""
  paths = sorted(glob.glob(os.path.join(REALAUDIO_DEV, "*", "train", "*",
                                        "*.ogg")))
  if not paths:
    pytest.skip(f"no real recordings in {REALAUDIO_DEV}")
  chosen = paths[::max(1, len(paths) // count)][:count]
  return [audio_io.read_audio(p) for p in chosen]


def cosine(a, b):
  return float(np.dot(a, b) / (np.linalg.norm(a) * np.linalg.norm(b)))


def test_real_clips_embed_alike_at_any_level(exported):
  _, path = exported
  serve = tf.saved_model.load(path).signatures["serving_default"]
  clips = real_clips()
  cosines = {}
  for db in (-20.0, -10.0, 6.0):
    gain = 10 ** (db / 20)
    cosines[db] = [
        cosine(serve(waveform=clip[np.newaxis])["embedding"].numpy()[0],
               serve(waveform=gain * clip[np.newaxis])["embedding"].numpy()[0])
        for clip in clips]
  summary = {db: (np.mean(c), np.min(c)) for db, c in cosines.items()}
  print(json.dumps({str(k): v for k, v in summary.items()}))
  for db, (mean, worst) in summary.items():
    assert mean >= 0.99 and worst >= 0.97, (db, mean, worst)


def test_silence_and_near_silence_stay_finite(exported):
  _, path = exported
  loaded = tf.saved_model.load(path)
  rng = np.random.default_rng(1)
  quiet = {
      "digital_silence": np.zeros([1, 32000], np.float32),
      "dither_1e-6": 1e-6 * rng.standard_normal([1, 32000]),
      "denormals": np.full([1, 16000], 1e-40, np.float32),
      "one_click_in_silence": np.pad([[0.5]], ((0, 0), (8000, 7999))),
  }
  for name, x in quiet.items():
    out = loaded.signatures["window_embeddings"](
        waveform=tf.constant(x, tf.float32))["embeddings"].numpy()
    assert np.all(np.isfinite(out)), name
