"""Augmentations of log-mel batches, applied inside a training step.

Random resized crop (BYOL-A, Niizumi et al. 2021): each example's log-mel
is cut to a random box of its (time x frequency) plane and resized back to
the full size, bilinearly. A box smaller than the plane zooms in (a slower,
lower-pitched view); a larger one zooms out, the plane lying somewhere
inside it with the mean value (0 after standardisation) around it. Time
and frequency scales are drawn independently, uniformly in their ranges.
All examples go through one batched `tf.image.crop_and_resize`.
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


def _spans(batch, low, high):
  """Box starts and ends along one axis, in [0, 1] units of the plane."""
  size = tf.random.uniform([batch], low, high)
  start = tf.random.uniform([batch]) * (1.0 - size)  # inside, or around it
  return start, start + size


def random_resized_crop(log_mels, config):
  """[batch, time, mel, 1] -> the same shape, each example re-cropped."""
  if not config.enabled:
    return log_mels
  shape = tf.shape(log_mels)
  batch = shape[0]
  t0, t1 = _spans(batch, *config.time_scale)
  f0, f1 = _spans(batch, *config.freq_scale)
  boxes = tf.stack([t0, f0, t1, f1], axis=1)
  return tf.image.crop_and_resize(
      tf.cast(log_mels, tf.float32), boxes, tf.range(batch),
      crop_size=shape[1:3], extrapolation_value=0.0)
