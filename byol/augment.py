"""BYOL-A's log-mel augmentations, applied to a batch inside the train step.

Both work on the frontend's standardised log-mel [batch, time, mel, 1]
(BYOL-A normalises with the training data's statistics first, as the
frontend does), and each example draws its own random values:

  log_mixup_exp        log((1 - r) exp(x) + r exp(x')): another clip mixed
                       in, in the linear domain, at a ratio r ~ U(0,
                       max_ratio) (BYOL-A: 0.4). x' is another example of
                       the same batch (a random permutation), where BYOL-A
                       draws it from a memory of past inputs: the batch is
                       already a random draw of other clips, and the
                       permutation keeps the step free of state that a
                       distributed run would have to keep alike.
  random_linear_fader  a gain that changes linearly over the window, added
                       in the log domain: from g0 to g1, each ~ U(-gain,
                       gain) (BYOL-A v2's fade in / fade out).

The random resized crop of BYOL-A is common/models/mel_augment.py's
(the learner base applies it).
"""

import tensorflow as tf


def _uniforms(seed, *shapes_and_ranges):
  """Stateless uniform draws, one independent seed each."""
  seeds = tf.unstack(tf.random.experimental.stateless_split(
      seed, len(shapes_and_ranges)))
  return [tf.random.stateless_uniform(shape, s, low, high)
          for s, (shape, low, high) in zip(seeds, shapes_and_ranges)]


def log_mixup_exp(log_mels, max_ratio, seed):
  """Each example with another example of the batch mixed in (module
  docstring); `max_ratio` 0 returns the batch. `seed`: a stateless seed
  ([2] ints)."""
  if not max_ratio:
    return log_mels
  batch = tf.shape(log_mels)[0]
  order, ratio = _uniforms(seed, ([batch], 0.0, 1.0),
                           ([batch, 1, 1, 1], 0.0, max_ratio))
  # A permutation as argsort of uniforms: XLA compiles it.
  partners = tf.argsort(order)
  mixed = (1.0 - ratio) * tf.exp(log_mels) + ratio * tf.exp(
      tf.gather(log_mels, partners))
  return tf.math.log(mixed + 1e-8)


def random_linear_fader(log_mels, gain, seed):
  """Each example plus a linear ramp over time from g0 to g1 (module
  docstring); `gain` 0 returns the batch. `seed`: a stateless seed."""
  if not gain:
    return log_mels
  batch, frames = tf.shape(log_mels)[0], tf.shape(log_mels)[1]
  ends, = _uniforms(seed, ([batch, 2], -gain, gain))
  position = tf.linspace(0.0, 1.0, frames)
  ramp = ends[:, :1] + (ends[:, 1:] - ends[:, :1]) * position[tf.newaxis]
  return log_mels + ramp[:, :, tf.newaxis, tf.newaxis]
