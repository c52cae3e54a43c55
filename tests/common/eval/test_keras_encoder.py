"""common/eval/keras_encoder.py: a run's encoder as a Keras layer, from its
workdir or a preset folder, equal to the SavedModel, fine-tuned inside a
user's model and saved and reloaded with it in the .keras format."""

import json
import os

import keras
import numpy as np
import pytest
import tensorflow as tf

from common.eval.keras_encoder import AudioEncoder
from common.io import plugins
from common.train import trainer

TOLERANCE = 1e-5


@pytest.fixture(scope="module", params=plugins.method_packages())
def workdir(request, tmp_path_factory):
  config = __import__(f"{request.param}.configs.tiny",
                      fromlist=["get_config"]).get_config()
  path = str(tmp_path_factory.mktemp(request.param) / "run")
  trainer.train(config, workdir=path, verbose=0)
  return path


def clips(seed=0, samples=40000):
  return np.random.default_rng(seed).uniform(
      -0.5, 0.5, [3, samples]).astype(np.float32)


def test_the_layer_embeds_as_the_saved_model(workdir):
  saved = tf.saved_model.load(os.path.join(workdir, "saved_model"))
  x = clips()
  encoder = AudioEncoder.from_preset(workdir)
  assert isinstance(encoder, keras.layers.Layer)
  np.testing.assert_allclose(
      encoder(x).numpy(),
      saved.signatures["serving_default"](waveform=x)["embedding"].numpy(),
      atol=TOLERANCE, rtol=0)
  windows = AudioEncoder.from_preset(workdir, per_window=True)(x).numpy()
  np.testing.assert_allclose(
      windows, saved.signatures["window_embeddings"](waveform=x)[
          "embeddings"].numpy(), atol=TOLERANCE, rtol=0)
  short = clips(1, samples=4000)  # Shorter than a window: padded, centred.
  np.testing.assert_allclose(
      encoder(short).numpy(), saved.signatures["serving_default"](
          waveform=short)["embedding"].numpy(), atol=TOLERANCE, rtol=0)


def test_it_fine_tunes_inside_a_users_model_and_reloads_with_it(
    workdir, tmp_path):
  encoder = AudioEncoder.from_preset(workdir)
  waveform = keras.Input([None])
  logits = keras.layers.Dense(2)(encoder(waveform))
  model = keras.Model(waveform, logits)
  model.compile(keras.optimizers.Adam(1e-2),
                keras.losses.SparseCategoricalCrossentropy(from_logits=True))
  before = [v.numpy().copy() for v in encoder.trainable_weights]
  assert before  # The encoder's own weights train; its heads do not.
  x, y = clips(2), np.array([0, 1, 0])
  model.fit(x, y, epochs=2, batch_size=3, verbose=0)
  assert any(np.max(np.abs(b - v.numpy())) > 0
             for b, v in zip(before, encoder.trainable_weights))
  path = str(tmp_path / "classifier.keras")
  model.save(path)
  reloaded = keras.models.load_model(path)
  np.testing.assert_allclose(reloaded(x).numpy(), model(x).numpy(),
                             atol=TOLERANCE, rtol=0)


@pytest.mark.parametrize("source", ["workdir", "preset"])
def test_fit_reports_the_users_loss(workdir, tmp_path, source):
  """The `loss` fit and evaluate report is the user's model's loss, computed
  here from its outputs; the layer adds no metric of its own (it used to
  hold the training model, whose never-updated tracker reported 0.0)."""
  path = workdir if source == "workdir" else AudioEncoder.from_preset(
      workdir).save_to_preset(str(tmp_path / "preset"))
  encoder = AudioEncoder.from_preset(path)
  waveform = keras.Input([None])
  model = keras.Model(waveform, keras.layers.Dense(3)(encoder(waveform)))
  loss = keras.losses.SparseCategoricalCrossentropy(from_logits=True)
  model.compile(keras.optimizers.Adam(1e-3), loss)
  assert [m.name for m in model.metrics] == ["loss"]
  x, y = clips(4), np.array([0, 1, 2])
  # The first step's loss is the forward pass in training mode (batch norm
  # on the batch's statistics) before the update.
  by_hand = float(loss(y, model(x, training=True)))
  history = model.fit(x, y, epochs=2, batch_size=3, verbose=0)
  assert history.history["loss"][0] == pytest.approx(by_hand, rel=1e-4)
  assert min(history.history["loss"]) > 0.0
  np.testing.assert_allclose(model.evaluate(x, y, verbose=0),
                             float(loss(y, model(x))), rtol=1e-4)


def test_a_preset_folder_round_trips(workdir, tmp_path):
  encoder = AudioEncoder.from_preset(workdir)
  preset = encoder.save_to_preset(str(tmp_path / "preset"))
  assert sorted(os.listdir(preset)) == ["config.json", "model.weights.h5"]
  with open(os.path.join(preset, "config.json")) as f:
    assert json.load(f)["class_name"] == "AudioEncoder"
  x = clips(3)
  np.testing.assert_allclose(AudioEncoder.from_preset(preset)(x).numpy(),
                             encoder(x).numpy(), atol=TOLERANCE, rtol=0)


def test_a_folder_that_is_neither_is_a_clear_error(tmp_path):
  with pytest.raises(FileNotFoundError, match="no config.json"):
    AudioEncoder.from_preset(str(tmp_path))
