"""COLA: contrastive learning of audio representations (Saeed et al., 2021).

Anchors and positives (two random crops of the same clips) go through the
frontend and encoder in one call; the head g projects h = f(x) to the
space where a bilinear (or cosine) similarity scores every anchor against
every positive of the batch, and a softmax cross-entropy with the diagonal
as labels is the loss (one direction, anchors -> positives). The
positives' Gaussian noise (config.noise_stddev) is added here, on the
batch, rather than per example in the input pipeline: on an accelerator it
is free, and on the host it was most of the pipeline's cost.
"""

import keras
import tensorflow as tf

from common.data import waveform_ops
from common.models import encoders
from common.models import learner
from common.models import losses


class Cola(learner.Learner):
  """Waveform [batch, samples] -> encoder embedding h [batch, D].

  Trains on (anchors, positives) batches of raw crops (cola/data.py).
  """

  def __init__(self, config, **kwargs):
    super().__init__(config, ("loss", "contrastive_accuracy"), **kwargs)
    self.encoder = encoders.build(config.encoder, self.log_mel_shape,
                                  **config.encoder_kwargs)
    self.head = keras.layers.Dense(config.embedding_dim, name="head")
    self.head_norm = None
    if config.similarity == "bilinear":
      self.head_norm = keras.layers.LayerNormalization(name="head_norm")
    self.similarity = losses.build_similarity(
        config.similarity, config.temperature)

  def embedding_encoders(self):
    return self.encoder, None

  def example_batch(self):
    zeros = tf.zeros([2, self.crop_samples])
    return zeros, zeros

  def level(self, waveforms):
    """The frontend's first step: each window at the configured level."""
    return self.frontend.level(waveforms)

  def encode_levelled(self, levelled, training=False, seed=None):
    """h of waveforms already through the frontend's level step; in
    training, log-mels are randomly re-cropped when the config asks."""
    log_mels = self.augment_log_mels(self.frontend.features(levelled),
                                     training, seed)
    return self.encoder(log_mels, training=training)

  def project(self, h, training=False):
    z = self.head(h, training=training)
    if self.head_norm is not None:
      z = tf.tanh(self.head_norm(z, training=training))
    return z

  def add_noise(self, positives, seed=None):
    """The positives' augmentation noise, one batched op, on levelled
    waveforms (so `noise_stddev` is relative to the frontend's level).
    From the step's seeds: each replica of a distributed step draws its
    own."""
    if not self.config.noise_stddev:
      return positives
    return waveform_ops.add_noise(positives, self.config.noise_stddev, seed)

  def loss_step(self, batch, training):
    """Loss (this replica's, unscaled) and contrastive accuracy."""
    anchors, positives = batch
    n = tf.shape(anchors)[0]
    noise_seed, crop_seed = self.step_seeds(2)
    levelled = self.level(tf.concat([anchors, positives], 0))
    levelled = tf.concat(
        [levelled[:n], self.add_noise(levelled[n:], noise_seed)], 0)
    z = self.project(self.encode_levelled(levelled, training, crop_seed),
                     training=training)
    logits, labels = losses.contrastive_logits(
        self.similarity, z[:n], z[n:], self.config.global_negatives)
    return (losses.softmax_contrastive_loss(logits, labels),
            {"contrastive_accuracy": losses.contrastive_accuracy(
                logits, labels)})
