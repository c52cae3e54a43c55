"""Linear probes on frozen embeddings (COLA's downstream protocol).

Clip embeddings are the encoder outputs averaged over non-overlapping 1 s
windows (the SavedModel's serving_default does exactly this); a softmax
linear classifier is trained on standardised embeddings of the training
clips and scored on the test clips.
"""

import keras
import numpy as np
import tensorflow as tf

from common import waveform_ops


def saved_model_encoder(path):
  """An exported SavedModel's `serving_default` as an encoder of waveform
  windows, for clip_embeddings."""
  loaded = tf.saved_model.load(path)  # Kept: its variables back the
  serve = loaded.signatures["serving_default"]  # signature.

  def encoder(x, training=False):
    del training
    return serve(waveform=x)["embedding"]
  encoder.saved_model = loaded
  return encoder


def clip_embeddings(encoder, waveforms, window=16000, batch_size=64):
  """Mean over 1 s windows of `encoder` outputs, one row per clip."""
  rows = []
  for waveform in waveforms:
    framed, _ = waveform_ops.windows(
        tf.constant(waveform[np.newaxis], tf.float32), window, window)
    framed = tf.reshape(framed, [-1, window])
    outputs = [encoder(framed[i:i + batch_size], training=False)
               for i in range(0, framed.shape[0], batch_size)]
    rows.append(tf.reduce_mean(tf.concat(outputs, 0), axis=0).numpy())
  return np.stack(rows).astype(np.float32)


def linear_probe(train_x, train_y, test_x, test_y, num_classes, epochs=200,
                 learning_rate=1e-2, seed=0):
  """Test accuracy of a softmax classifier on standardised embeddings."""
  mean, std = train_x.mean(axis=0), train_x.std(axis=0) + 1e-6
  keras.utils.set_random_seed(seed)
  classifier = keras.Sequential([
      keras.Input([train_x.shape[1]]),
      keras.layers.Dense(num_classes)])
  classifier.compile(
      keras.optimizers.Adam(learning_rate),
      keras.losses.SparseCategoricalCrossentropy(from_logits=True),
      metrics=["accuracy"])
  classifier.fit((train_x - mean) / std, train_y, epochs=epochs,
                 batch_size=len(train_x), verbose=0)
  return float(classifier.evaluate((test_x - mean) / std, test_y,
                                   verbose=0)[1])
