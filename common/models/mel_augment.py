"""Augmentations of log-mel batches, applied inside a training step.

Random resized crop (BYOL-A, Niizumi et al. 2021): each example's log-mel
is cut to a random box of its (time x frequency) plane and resized back to
the full size, bilinearly. A box smaller than the plane zooms in (a slower,
lower-pitched view); a larger one zooms out, the plane lying somewhere
inside it with the mean value (0 after standardisation) around it. Time
and frequency scales are drawn independently, uniformly in their ranges.
All examples are resized at once, by two batched matmuls.
"""

import ml_collections
import tensorflow as tf


def random_resized_crop_config(**overrides):
  c = ml_collections.ConfigDict(dict(
      enabled=False, time_scale=(0.6, 1.5), freq_scale=(0.6, 1.5)))
  c.update(overrides)
  return c


def check_config(config):
  for key in ("time_scale", "freq_scale"):
    low, high = config[key]
    if not 0 < low <= high:
      raise ValueError(f"random_resized_crop.{key}={tuple(config[key])}: "
                       "expected 0 < low <= high")


def _uniform(shape, seed, low=0.0, high=1.0):
  """Uniform draws: stateless from `seed` ([2] ints) when given."""
  if seed is None:
    return tf.random.uniform(shape, low, high)
  return tf.random.stateless_uniform(shape, seed, low, high)


def _spans(batch, low, high, seed=None):
  """Box starts and ends along one axis, in [0, 1] units of the plane."""
  seeds = (None, None) if seed is None else tf.unstack(
      tf.random.experimental.stateless_split(seed, 2))
  size = _uniform([batch], seeds[0], low, high)
  start = _uniform([batch], seeds[1]) * (1.0 - size)  # inside, or around it
  return start, start + size


def _resize_weights(start, end, size):
  """[batch, size, size] bilinear weights of one axis: row i samples the
  box [start, end] at i / (size - 1) of its length, with the sampling
  rule of tf.image.crop_and_resize (a sample outside the plane is 0)."""
  scale = (end - start) * (size - 1) / max(size - 1, 1)
  if size > 1:
    position = (start * (size - 1))[:, None] + tf.range(
        size, dtype=tf.float32)[None] * scale[:, None]
  else:
    position = (0.5 * (start + end) * (size - 1))[:, None]
  inside = tf.cast((position >= 0) & (position <= size - 1), tf.float32)
  low = tf.floor(position)
  fraction = position - low
  low = tf.cast(low, tf.int32)
  high = tf.minimum(low + 1, size - 1)
  return inside[..., None] * (
      tf.one_hot(low, size) * (1.0 - fraction)[..., None] +
      tf.one_hot(high, size) * fraction[..., None])


def random_resized_crop(log_mels, config, seed=None):
  """[batch, time, mel, 1] -> the same shape, each example re-cropped.

  `seed`: a stateless seed ([2] ints; the learner base passes one per
  step), or None for TensorFlow's stateful random ops.

  Bilinear resizing is separable: each example is its time weights times
  its plane times its frequency weights, two batched matmuls, which XLA
  compiles (tf.image.crop_and_resize, which it matches, has no XLA kernel).
  """
  if not config.enabled:
    return log_mels
  batch = tf.shape(log_mels)[0]
  frames, mels = log_mels.shape[1], log_mels.shape[2]
  seeds = (None, None) if seed is None else tf.unstack(
      tf.random.experimental.stateless_split(seed, 2))
  t0, t1 = _spans(batch, *config.time_scale, seed=seeds[0])
  f0, f1 = _spans(batch, *config.freq_scale, seed=seeds[1])
  time_weights = _resize_weights(t0, t1, frames)    # [batch, out, in]
  freq_weights = _resize_weights(f0, f1, mels)
  plane = tf.cast(log_mels[..., 0], tf.float32)
  resized = tf.matmul(tf.matmul(time_weights, plane), freq_weights,
                      transpose_b=True)
  return resized[..., tf.newaxis]
