"""A trained encoder as a Keras 3 layer, to train inside your own model.

  from common.eval.keras_encoder import AudioEncoder
  encoder = AudioEncoder.from_preset("runs/cola")   # a workdir or a preset
  waveform = keras.Input([None])                    # 16 kHz, any length
  logits = keras.layers.Dense(10)(encoder(waveform))
  model = keras.Model(waveform, logits)             # fine-tunes the encoder
  model.save("classifier.keras")                    # reloads with the layer
  encoder.save_to_preset("presets/cola")            # config.json + weights

The conventions are keras-hub's (its `Backbone.from_preset` and
`save_to_preset`, a preset folder holding `config.json` and
`model.weights.h5`); keras-hub itself is not a dependency. The layer owns
the whole path of the SavedModel's contract: the frontend (each window
levelled, log-mel, standardised with the training data's statistics:
keras-hub's audio converter) and the encoder (its backbone). Called on
[batch, samples] it cuts the contract's windows (export_window_seconds,
hop export_hop_seconds; a clip shorter than one window is zero-padded,
centred) and returns their mean embedding [batch, D], as the SavedModel's
serving_default does (to 1e-5: tests/common/eval/test_keras_encoder.py);
`per_window=True` returns [batch, windows, D], as window_embeddings does.

The layer holds the method's exported embedding only (its
`embedding_model()`: the frontend and the encoder, no projection head or
other training part) and reports no metric of its own, so the `loss` a
user's `fit` prints is the user's. A layer made `from_preset` of a workdir
takes those weights from the run's last checkpoint. Importing this module
registers the class with Keras (package "ssl_audio"), which a `.keras` file
holding the layer needs before `keras.models.load_model`.
"""

import json
import os

import keras
import ml_collections
import tensorflow as tf

from common.data import waveform_ops
from common.io import audio_io
from common.io import filesystem
from common.train import method as method_lib
from common.train import runs

CONFIG_FILE = "config.json"
WEIGHTS_FILE = "model.weights.h5"


@keras.saving.register_keras_serializable(package="ssl_audio")
class AudioEncoder(keras.layers.Layer):
  """Waveforms [batch, samples] -> embeddings [batch, D] (or [batch,
  windows, D] with `per_window`), trainable inside any Keras model.

  Args:
    run_config: the training config of the run (its config.json) as a
      dict: it says which method builds the model, and the windows.
    per_window: return each window's embedding instead of their mean.
  """

  def __init__(self, run_config, per_window=False, **kwargs):
    super().__init__(**kwargs)
    self.run_config = json.loads(json.dumps(dict(run_config)))
    self.per_window = bool(per_window)
    config = ml_collections.ConfigDict(self.run_config)
    rate = config.sample_rate
    self.window = audio_io.seconds_to_samples(config.export_window_seconds,
                                              rate)
    self.hop = audio_io.seconds_to_samples(
        config.get("export_hop_seconds") or config.export_window_seconds, rate)
    # The method's model, its weights created (no optimizer: the model
    # this layer goes into has its own); only its embedding is kept.
    learner = method_lib.load(config.method).build_model(config)
    learner.initialize()
    self.embedding = learner.embedding_model()
    h = self.embedding(tf.zeros([2, self.window]), training=False)
    self.embedding_size = int(h.shape[-1])
    self.built = True

  def call(self, waveform, training=False):
    framed, _ = waveform_ops.windows(
        tf.cast(waveform, tf.float32), self.window, self.hop)
    batch, count = tf.shape(framed)[0], tf.shape(framed)[1]
    flat = tf.reshape(framed, [-1, self.window])
    h = tf.cast(self.embedding(flat, training=training), tf.float32)
    h = tf.reshape(h, [batch, count, self.embedding_size])
    return h if self.per_window else tf.reduce_mean(h, axis=1)

  def compute_output_shape(self, input_shape):
    if self.per_window:
      return (input_shape[0], None, self.embedding_size)
    return (input_shape[0], self.embedding_size)

  def get_config(self):
    return {**super().get_config(), "run_config": self.run_config,
            "per_window": self.per_window}

  @classmethod
  def from_preset(cls, path, per_window=False, **kwargs):
    """The encoder of a training workdir (config.json and checkpoints/:
    its last checkpoint) or of a preset folder (save_to_preset's).

    Raises:
      FileNotFoundError: `path` is neither, or has no checkpoint.
    """
    path = os.fspath(path)
    config_path = filesystem.join(path, CONFIG_FILE)
    if not filesystem.exists(config_path):
      raise FileNotFoundError(f"{path}: no {CONFIG_FILE}; expected a "
                              "training workdir or a preset folder")
    with filesystem.open(config_path) as f:
      stored = json.load(f)
    if stored.get("class_name") == cls.__name__:  # A preset.
      layer = cls(**{**stored["config"], "per_window": per_window, **kwargs})
      layer.embedding.load_weights(filesystem.join(path, WEIGHTS_FILE))
      return layer
    layer = cls(stored, per_window=per_window, **kwargs)
    _, trained = runs.restore_model(path, seed=None)
    # The same code built both: their embeddings' weights pair up in order.
    for mine, theirs in zip(layer.embedding.weights,
                            trained.embedding_model().weights):
      mine.assign(theirs)
    return layer

  def save_to_preset(self, path):
    """Writes `path`/config.json (this layer's config) and
    `path`/model.weights.h5; from_preset(path) rebuilds the layer."""
    path = os.fspath(path)
    filesystem.makedirs(path)
    filesystem.write_text(filesystem.join(path, CONFIG_FILE), json.dumps({
        "module": type(self).__module__, "class_name": type(self).__name__,
        "config": {"run_config": self.run_config, "name": self.name,
                   "trainable": self.trainable}}, indent=2))
    self.embedding.save_weights(filesystem.join(path, WEIGHTS_FILE))
    return path
