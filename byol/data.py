"""BYOL's input pipeline: one random crop of each clip, raw.

The two views are made from the same crop, inside the model, on its
log-mel (byol/model.py): BYOL-A augments one segment twice. The crop stays
at the clip's own level: the frontend levels every window, as the exported
model does. Batches: float32 [batch, crop samples], forever.
"""

import tensorflow as tf

from common.data import data_sources
from common.data import waveform_ops


def crop_dataset(source, config, batch_size, shuffle=True):
  """Infinite batches of one random crop per clip from a data source."""
  crop_samples = waveform_ops.seconds_to_samples(config.crop_seconds,
                                                 config.sample_rate)
  # Repeated, then shuffled: the shuffle draws its order once per iterator
  # (a shuffle inside the repeat reshuffles every epoch from a seed state
  # that every iterator of the dataset shares, so the training iterator's
  # order would depend on how far the `adapt` iterator had read ahead).
  ds = source.dataset().repeat()
  if shuffle:
    ds = ds.shuffle(config.shuffle_buffer, seed=config.seed)
  # The crop from (seed, element index): the same in any process.
  ds = ds.enumerate().map(
      lambda i, x: waveform_ops.random_crop(
          x["audio"], crop_samples,
          waveform_ops.element_seeds(config.seed, i, 1)[0]),
      num_parallel_calls=tf.data.AUTOTUNE)
  return ds.batch(batch_size, drop_remainder=True).prefetch(tf.data.AUTOTUNE)


def build_dataset(config, data_spec, batch_size):
  source = data_sources.load(data_spec, split="train")
  return crop_dataset(source, config, batch_size), source
