"""Per-example waveform operations for tf.data pipelines (cheap, on host)."""

import tensorflow as tf

from common.io.audio_io import seconds_to_samples  # noqa: F401  (one owner)



def inverse_l2_norm(waveform, epsilon=1e-9):
  """1 / ||waveform|| over the last axis (kept, size 1), as
  tf.math.l2_normalize scales. Pipelines scale only the crops they cut by
  it, which spares a normalised copy of the whole (long) clip."""
  return tf.math.rsqrt(tf.maximum(
      tf.reduce_sum(tf.square(waveform), axis=-1, keepdims=True), epsilon))


def l2_normalize(waveform):
  """Scales a clip to unit L2 norm (COLA normalises each clip)."""
  return waveform * inverse_l2_norm(waveform)


def pad_to(waveform, length):
  """Zero-pads a 1-D waveform shorter than `length`, centred."""
  missing = tf.maximum(length - tf.shape(waveform)[0], 0)
  before = missing // 2
  return tf.pad(waveform, [[before, missing - before]])


def element_seeds(seed, index, count):
  """`count` stateless seeds ([2] int64 each) for element `index` of a
  pipeline seeded with `seed`: a pipeline's random choices then depend on
  the seed and the element only, never on which thread or iterator drew
  first (stateful random ops in a parallel map, or in two iterators of one
  dataset, race)."""
  base = tf.stack([tf.cast(seed, tf.int64), tf.cast(index, tf.int64)])
  return tf.unstack(tf.random.experimental.stateless_split(base, count))


def random_integer(high, seed=None):
  """An int32 in [0, high): stateless from `seed` when given."""
  if seed is None:
    return tf.random.uniform([], 0, high, dtype=tf.int32)
  return tf.random.stateless_uniform([], seed, 0, high, dtype=tf.int32)


def random_crop(waveform, length, seed=None):
  """A random `length`-sample window of a 1-D waveform (padded if short);
  `seed`: a stateless seed (element_seeds), or None for a stateful draw."""
  waveform = pad_to(waveform, length)
  start = random_integer(tf.shape(waveform)[0] - length + 1, seed)
  return tf.reshape(waveform[start:start + length], [length])


def add_noise(waveform, stddev, seed=None):
  """Gaussian noise of `stddev`, any shape (a clip or a batch); stateless
  from `seed` ([2] ints) when given."""
  if seed is None:
    return waveform + tf.random.normal(tf.shape(waveform), stddev=stddev,
                                       dtype=waveform.dtype)
  return waveform + tf.random.stateless_normal(
      tf.shape(waveform), seed, stddev=stddev, dtype=waveform.dtype)


def windows(waveform, length, hop):
  """[batch, samples] -> ([batch, windows, length], window centres [windows]).

  Centres are in samples of the input clip.

  Windows start every `hop` samples and never pass the end; a clip shorter
  than `length` is zero-padded (centred) to one window. Works on any length.
  """
  samples = tf.shape(waveform)[1]
  missing = tf.maximum(length - samples, 0)
  waveform = tf.pad(waveform, [[0, 0], [missing // 2, missing - missing // 2]])
  framed = tf.signal.frame(waveform, length, hop, pad_end=False, axis=1)
  count = tf.shape(framed)[1]
  centres = (tf.cast(tf.range(count) * hop, tf.float32) + length / 2.0)
  # Centres refer to the unpadded clip: a padded clip's one window is centred.
  centres = tf.where(missing > 0, tf.cast(samples, tf.float32) / 2.0, centres)
  return framed, centres
