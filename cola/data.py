"""COLA's input pipeline: (anchor, positive) pairs of raw 1 s crops.

Each clip is L2-normalised; anchor and positive are two independent random
crops (zero-padded, centred, when the clip is shorter); the positive gets
Gaussian noise. Crops stay waveforms: the log-mel is computed in the model,
batched, so the host only slices arrays.
"""

import tensorflow as tf

from common import data_sources
from common import waveform_ops


def make_pair(audio, crop_samples, noise_stddev):
  audio = waveform_ops.l2_normalize(audio)
  anchor = waveform_ops.random_crop(audio, crop_samples)
  positive = waveform_ops.random_crop(audio, crop_samples)
  return anchor, waveform_ops.add_noise(positive, noise_stddev)


def pair_dataset(source, config, batch_size, shuffle=True):
  """Infinite batched (anchors, positives) from a data source."""
  crop_samples = int(config.crop_seconds * config.sample_rate)
  ds = source.dataset()
  if shuffle:
    ds = ds.shuffle(config.shuffle_buffer, seed=config.seed)
  ds = ds.repeat().map(
      lambda x: make_pair(x["audio"], crop_samples, config.noise_stddev),
      num_parallel_calls=tf.data.AUTOTUNE)
  return ds.batch(batch_size, drop_remainder=True).prefetch(tf.data.AUTOTUNE)


def build_dataset(config, data_spec, batch_size):
  source = data_sources.load(data_spec, split="train")
  return pair_dataset(source, config, batch_size), source
