"""COLA's input pipeline: (anchor, positive) pairs of raw 1 s crops.

Anchor and positive are two independent random crops of a clip (zero-padded,
centred, when the clip is shorter), at the clip's own level: the model's
frontend scales every window to a fixed level (common/models/frontend.py), as the
exported model does, so training and serving see the same thing. The
positive's Gaussian noise and the log-mel are computed in the model,
batched on the device (cola/model.py), so the host only slices arrays.
Generating the noise was two thirds of the host's time per example when it
was done here (benchmarks/input_pipeline.py).

With `mixing.enabled`, each anchor and each positive then gets a smaller
share of another crop of the batch mixed in, each with its own partner and
ratio (common/data/mixing.py, the multimodal method's example mixing): its
positive is still its own clip, but every candidate carries traces of
another, which makes the contrastive task harder.
"""

import tensorflow as tf

from common.data import data_sources
from common.data import mixing
from common.data import waveform_ops


def make_pair(audio, crop_samples, seeds=(None, None)):
  """Two random crops of the clip (noise comes later, in the model);
  `seeds`: one stateless seed per crop, or Nones for stateful draws."""
  return (waveform_ops.random_crop(audio, crop_samples, seeds[0]),
          waveform_ops.random_crop(audio, crop_samples, seeds[1]))


def mix_pairs(anchors, positives, config, seed=None):
  """Example mixing of a batch of pairs, anchors and positives apart."""
  mixed = mixing.mix_batch({"anchor": anchors, "positive": positives},
                           config, seed=seed)
  return mixed["anchor"], mixed["positive"]


def pair_dataset(source, config, batch_size, shuffle=True):
  """Infinite batched (anchors, positives) from a data source."""
  crop_samples = waveform_ops.seconds_to_samples(config.crop_seconds,
                                                 config.sample_rate)
  # Repeated, then shuffled: the shuffle draws its order once per iterator
  # (a shuffle inside the repeat reshuffles every epoch from a seed state
  # that every iterator of the dataset shares, so the training iterator's
  # order would depend on how far the `adapt` iterator had read ahead).
  ds = source.dataset().repeat()
  if shuffle:
    ds = ds.shuffle(config.shuffle_buffer, seed=config.seed)
  # Every draw from (seed, element index): the same seed gives the same
  # crops and partners in any process (waveform_ops.element_seeds).
  ds = ds.enumerate().map(
      lambda i, x: make_pair(x["audio"], crop_samples, waveform_ops.
                             element_seeds(config.seed, i, 2)),
      num_parallel_calls=tf.data.AUTOTUNE)
  ds = ds.batch(batch_size, drop_remainder=True)
  mix = config.get("mixing")
  if mix is not None and mix.enabled:
    mixing.check_config(mix, known=("anchor", "positive"))
    ds = ds.enumerate().map(
        lambda i, pair: mix_pairs(*pair, mix, waveform_ops.element_seeds(
            config.seed + 1, i, 1)[0]),
        num_parallel_calls=tf.data.AUTOTUNE)
  return ds.prefetch(tf.data.AUTOTUNE)


def build_dataset(config, data_spec, batch_size):
  source = data_sources.load(data_spec, split="train")
  return pair_dataset(source, config, batch_size), source
