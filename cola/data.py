"""COLA's input pipeline: (anchor, positive) pairs of raw 1 s crops.

Each clip is L2-normalised; anchor and positive are two independent random
crops (zero-padded, centred, when the clip is shorter). Crops stay waveforms:
the positive's Gaussian noise and the log-mel are computed in the model,
batched on the device (cola/model.py), so the host only slices arrays and
scales them by the clip's norm. Generating the noise was two thirds of the
host's time per example when it was done here (benchmarks/input_pipeline.py).
"""

import tensorflow as tf

from common import data_sources
from common import waveform_ops


def make_pair(audio, crop_samples):
  """Two random crops of the L2-normalised clip (noise comes later)."""
  scale = waveform_ops.inverse_l2_norm(audio)
  anchor = waveform_ops.random_crop(audio, crop_samples)
  positive = waveform_ops.random_crop(audio, crop_samples)
  return anchor * scale, positive * scale


def pair_dataset(source, config, batch_size, shuffle=True):
  """Infinite batched (anchors, positives) from a data source."""
  crop_samples = int(config.crop_seconds * config.sample_rate)
  ds = source.dataset()
  if shuffle:
    ds = ds.shuffle(config.shuffle_buffer, seed=config.seed)
  ds = ds.repeat().map(
      lambda x: make_pair(x["audio"], crop_samples),
      num_parallel_calls=tf.data.AUTOTUNE)
  return ds.batch(batch_size, drop_remainder=True).prefetch(tf.data.AUTOTUNE)


def build_dataset(config, data_spec, batch_size):
  source = data_sources.load(data_spec, split="train")
  return pair_dataset(source, config, batch_size), source
