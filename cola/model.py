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
from common.models import frontend as frontend_lib
from common.models import losses
from common.models import mel_augment


class Cola(keras.Model):
  """Waveform [batch, samples] -> encoder embedding h [batch, D]."""

  def __init__(self, config, **kwargs):
    super().__init__(**kwargs)
    self.config = config
    self.frontend = frontend_lib.from_config(config.frontend)
    self.resized_crop = config.get(
        "random_resized_crop", mel_augment.random_resized_crop_config())
    mel_augment.check_config(self.resized_crop)
    self.crop_samples = int(config.crop_seconds * config.sample_rate)
    frames = frontend_lib.num_frames(
        self.crop_samples,
        config.frontend.window_length, config.frontend.hop_length)
    self.encoder = encoders.build(
        config.encoder, (frames, config.frontend.mel_bands, 1),
        **config.encoder_kwargs)
    self.head = keras.layers.Dense(config.embedding_dim, name="head")
    self.head_norm = None
    if config.similarity == "bilinear":
      self.head_norm = keras.layers.LayerNormalization(name="head_norm")
    self.similarity = losses.build_similarity(
        config.similarity, config.temperature)
    self.loss_tracker = keras.metrics.Mean(name="loss")
    self.accuracy_tracker = keras.metrics.Mean(name="contrastive_accuracy")

  def embedding_model(self):
    """Waveform windows -> h: the encoder that is exported."""
    return self

  def call(self, waveform, training=False):
    return self.encoder(self.frontend(waveform), training=training)

  def level(self, waveforms):
    """The frontend's first step: each window at the configured level."""
    return self.frontend.level(waveforms)

  def encode_levelled(self, levelled, training=False):
    """h of waveforms already through the frontend's level step; in
    training, log-mels are randomly re-cropped when the config asks."""
    log_mels = self.frontend.features(levelled)
    if training:
      log_mels = mel_augment.random_resized_crop(log_mels, self.resized_crop)
    return self.encoder(log_mels, training=training)

  def project(self, h, training=False):
    z = self.head(h, training=training)
    if self.head_norm is not None:
      z = tf.tanh(self.head_norm(z, training=training))
    return z

  def build(self, input_shape):
    # Sub-layers build on their first call; initialize() makes that call.
    self.built = True

  def initialize(self):
    """Creates every weight with one eager call on zeros."""
    z = self.project(self(tf.zeros([2, self.crop_samples])))
    self.similarity(z, z)

  def adapt(self, dataset):
    """Measures the frontend's standardisation on the anchors of the first
    training batches (`frontend.standardize_examples` of them)."""
    self.frontend.adapt_on_batches(
        (anchors for anchors, _ in dataset),
        int(self.config.frontend.get("standardize_examples", 0)))

  def add_noise(self, positives):
    """The positives' augmentation noise, one batched op, on levelled
    waveforms (so `noise_stddev` is relative to the frontend's level).
    Stateful random ops: each replica of a distributed step draws its own."""
    if not self.config.noise_stddev:
      return positives
    return waveform_ops.add_noise(positives, self.config.noise_stddev)

  def contrastive_step(self, anchors, positives, training):
    """Loss (this replica's, unscaled), accuracy."""
    n = tf.shape(anchors)[0]
    levelled = self.level(tf.concat([anchors, positives], 0))
    levelled = tf.concat([levelled[:n], self.add_noise(levelled[n:])], 0)
    z = self.project(self.encode_levelled(levelled, training=training),
                     training=training)
    logits, labels = losses.contrastive_logits(
        self.similarity, z[:n], z[n:], self.config.global_negatives)
    return (losses.softmax_contrastive_loss(logits, labels),
            losses.contrastive_accuracy(logits, labels))

  def train_step(self, data):
    anchors, positives = data
    with tf.GradientTape() as tape:
      loss, accuracy = self.contrastive_step(anchors, positives, True)
      scaled = self.optimizer.scale_loss(losses.scale_for_replicas(loss))
    gradients = tape.gradient(scaled, self.trainable_variables)
    self.optimizer.apply_gradients(zip(gradients, self.trainable_variables))
    return self._update_metrics(loss, accuracy)

  def test_step(self, data):
    anchors, positives = data
    return self._update_metrics(*self.contrastive_step(
        anchors, positives, False))

  def _update_metrics(self, loss, accuracy):
    self.loss_tracker.update_state(loss)
    self.accuracy_tracker.update_state(accuracy)
    return {m.name: m.result() for m in self.metrics}

  @property
  def metrics(self):
    return [self.loss_tracker, self.accuracy_tracker]
