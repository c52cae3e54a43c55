"""BYOL for audio (Niizumi, Takeuchi, Ohishi, Harada, Kashino, 2021).

One crop of each clip, two views of its standardised log-mel (each with
its own log-mixup-exp partner and ratio, random resized crop and linear
fader: byol/augment.py). The online network (encoder, projector,
predictor) predicts the target network's projection of the other view; the
target (encoder, projector) is an exponential moving average of the online
encoder and projector, updated after every optimizer step, and takes no
gradient. The loss is 2 - 2 cos(prediction, target projection), averaged
over the batch, summed over the two directions; no negatives.

Under tf.distribute each replica's loss is the mean over its own examples
(scaled by the learner base for the replicas), the optimizer applies the
summed gradients, and the moving average is one update of each target
variable in cross-replica context from the online weights that every
replica holds alike: two replicas give the same weights as one device on the
same global batch (tests/byol/test_byol_distributed.py), once the batch
norms are synchronised or absent (`head_batch_norm`, the encoder's own
batch norms are per replica, as in the other methods).

The exported embedding is the online encoder's h, before the projector.
"""

import keras
import tensorflow as tf

from byol import augment
from common.models import encoders
from common.models import learner


class MLP(keras.layers.Layer):
  """BYOL's projector and predictor: Dense-BN-ReLU-Dense."""

  def __init__(self, hidden_dim, output_dim, batch_norm=True, **kwargs):
    super().__init__(**kwargs)
    self.hidden = keras.layers.Dense(hidden_dim, name="hidden")
    self.norm = (keras.layers.BatchNormalization(name="norm") if batch_norm
                 else None)
    self.output_layer = keras.layers.Dense(output_dim, name="output")

  def call(self, x, training=False):
    x = self.hidden(x)
    if self.norm is not None:
      x = self.norm(x, training=training)
    return self.output_layer(tf.nn.relu(x))


def regression_loss(predictions, targets):
  """Mean over the batch of 2 - 2 cos(p, z), and the mean cosine."""
  p = tf.math.l2_normalize(tf.cast(predictions, tf.float32), axis=-1)
  z = tf.math.l2_normalize(tf.cast(targets, tf.float32), axis=-1)
  cosine = tf.reduce_sum(p * z, axis=-1)
  return tf.reduce_mean(2.0 - 2.0 * cosine), tf.reduce_mean(cosine)


class Byol(learner.Learner):
  """Waveform [batch, samples] -> online encoder embedding h [batch, D].

  Trains on batches of raw crops [batch, samples] (byol/data.py).
  """

  def __init__(self, config, **kwargs):
    super().__init__(config, ("loss", "cosine"), **kwargs)
    if not 0.0 <= config.ema_decay < 1.0:
      raise ValueError(f"ema_decay={config.ema_decay}: expected 0 <= decay "
                       "< 1")

    def network(prefix):
      encoder = encoders.build(config.encoder, self.log_mel_shape,
                               **config.encoder_kwargs)
      projector = MLP(config.projector_hidden_dim, config.projection_dim,
                      config.head_batch_norm, name=f"{prefix}projector")
      return encoder, projector

    self.encoder, self.projector = network("")
    self.predictor = MLP(config.predictor_hidden_dim, config.projection_dim,
                         config.head_batch_norm, name="predictor")
    self.target_encoder, self.target_projector = network("target_")

  def embedding_encoders(self):
    return self.encoder, None

  def example_batch(self):
    return tf.zeros([2, self.crop_samples])

  def adapt_waveforms(self, batch):
    return batch

  def _pairs(self):
    """(target variable, online variable), every weight of the target."""
    return list(zip(
        self.target_encoder.weights + self.target_projector.weights,
        self.encoder.weights + self.projector.weights))

  @property
  def optimized_variables(self):
    return (self.encoder.trainable_variables +
            self.projector.trainable_variables +
            self.predictor.trainable_variables)

  def initialize(self):
    """Every weight created; the target starts as a copy of the online
    network (a checkpoint restored after this overwrites both)."""
    super().initialize()
    for target, online in self._pairs():
      target.assign(online)

  def augment(self, log_mels, training, seeds):
    """One view: mixup, random resized crop, fader (training only), each
    from its own of three stateless `seeds`."""
    if not training:
      return log_mels
    mix, crop, fade = seeds
    log_mels = augment.log_mixup_exp(log_mels, self.config.mixup_ratio, mix)
    log_mels = self.augment_log_mels(log_mels, training, crop)
    return augment.random_linear_fader(log_mels, self.config.fader_gain,
                                       fade)

  def loss_step(self, batch, training):
    """Loss (this replica's, unscaled) and the mean cosine of predictions
    and targets."""
    log_mels = self.frontend(batch)
    n = tf.shape(log_mels)[0]
    seeds = self.step_seeds(6)
    views = tf.concat([self.augment(log_mels, training, seeds[:3]),
                       self.augment(log_mels, training, seeds[3:])], 0)
    predictions = self.predictor(self.projector(
        self.encoder(views, training=training), training=training),
                                 training=training)
    targets = tf.stop_gradient(self.target_projector(
        self.target_encoder(views, training=training), training=training))
    # Each view's prediction regresses the other view's target.
    loss_a, cosine_a = regression_loss(predictions[:n], targets[n:])
    loss_b, cosine_b = regression_loss(predictions[n:], targets[:n])
    return loss_a + loss_b, {"cosine": 0.5 * (cosine_a + cosine_b)}

  def after_update(self):
    """target <- decay * target + (1 - decay) * online, for the trainable
    weights; the target's batch-norm statistics are its own (its forward
    pass in training updates them), as in BYOL-A."""
    decay = self.config.ema_decay
    pairs = [(t, o) for t, o in self._pairs() if o.trainable]

    def update(strategy, pairs):
      for target, online in pairs:
        strategy.extended.update(
            target.value, lambda t, o: t.assign(decay * t + (1 - decay) * o),
            args=(online.value,), group=False)

    tf.distribute.get_replica_context().merge_call(update, args=(pairs,))
