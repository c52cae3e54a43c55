"""Example mixing: each example of a batch gets a smaller share of another.

The multimodal method's augmentation (Wang et al., 2021): example i becomes
(1 - r_i) x_i + r_i x_p(i), with p(i) another example of the same batch and
r_i < 0.5, so every mixed example stays dominated by its own content and its
positive stays its own pair. Telling one's own partner apart from a batch in
which every example carries traces of another is a harder task, and harder
still as the batch grows.

It runs on whole batches in the input pipeline (a `tf.data` map after
`batch`), so partners come from the batch the pipeline builds (the global
batch under `experimental_distribute_dataset`); evaluation and export never
go through it. All choices are config values (`mixing_config()`):

  enabled        False gives the batch back unchanged (the same tensors)
  modalities     which keys are mixed, e.g. ("audio", "frames")
  distribution   of r: "uniform" on [min_ratio, max_ratio], "beta"
                 (Beta(alpha, alpha) folded below 0.5, then clipped to
                 [min_ratio, max_ratio]) or "constant" (max_ratio)
  probability    share of examples that are mixed at all (others get r = 0)
  partners       "same": every modality of example i mixes in the same
                 partner with the same ratio (a mixed clip, sound and picture
                 alike); "independent": a partner and ratio per modality
  match_level    keys whose partner is first scaled to the example's own RMS
                 level, so that r is a share of energy, not of amplitude (a
                 loud partner at r = 0.4 would otherwise drown a quiet clip)
"""

import ml_collections
import tensorflow as tf

DISTRIBUTIONS = ("uniform", "beta", "constant")
PARTNERS = ("same", "independent")


def mixing_config(**overrides):
  """The defaults (documented in docs/multimodal.md), with `overrides`."""
  c = ml_collections.ConfigDict(dict(
      enabled=True, modalities=("audio", "frames"), distribution="uniform",
      min_ratio=0.0, max_ratio=0.4, beta_alpha=0.4, probability=1.0,
      partners="same", match_level=("audio",)))
  c.update(overrides)
  return c


def check_config(config, known=None):
  """Raises ValueError on an invalid mixing config; `known`, when given,
  names the keys the pipeline can mix (a misspelt modality would
  otherwise mix nothing, silently)."""
  unknown = sorted(set(config.modalities) - set(known or config.modalities))
  if unknown:
    raise ValueError(f"mixing.modalities: unknown {unknown}; this pipeline "
                     f"mixes {', '.join(known)} (a tuple on the command "
                     "line is written \"('a', 'b')\")")
  if config.distribution not in DISTRIBUTIONS:
    raise ValueError(f"mixing.distribution={config.distribution!r}: expected "
                     f"one of {', '.join(DISTRIBUTIONS)}")
  if config.partners not in PARTNERS:
    raise ValueError(f"mixing.partners={config.partners!r}: expected one of "
                     f"{', '.join(PARTNERS)}")
  if not 0 <= config.min_ratio <= config.max_ratio < 0.5:
    raise ValueError(
        "mixing ratios must satisfy 0 <= min_ratio <= max_ratio < 0.5 (an "
        f"example must stay dominated by its own content), got "
        f"[{config.min_ratio}, {config.max_ratio}]")


def _seeds(seed, count):
  """`count` stateless seeds from `seed`, or Nones (stateful draws)."""
  if seed is None:
    return [None] * count
  return tf.unstack(tf.random.experimental.stateless_split(seed, count))


def _uniform(shape, seed, low=0.0, high=1.0, dtype=tf.float32):
  if seed is None:
    return tf.random.uniform(shape, low, high, dtype=dtype)
  return tf.random.stateless_uniform(shape, seed, low, high, dtype=dtype)


def partner_indices(batch_size, seed=None):
  """For each example, another example of the batch (never itself);
  `seed`: a stateless seed ([2] ints), or None for a stateful draw."""
  shift = _uniform([batch_size], seed, 1, tf.maximum(batch_size, 2),
                   dtype=tf.int32)
  return (tf.range(batch_size) + shift) % batch_size


def mixing_ratios(batch_size, config, seed=None):
  """Per-example share r of the partner, float32 [batch_size]."""
  low, high = config.min_ratio, config.max_ratio
  ratio_seed, x_seed, y_seed, mixed_seed = _seeds(seed, 4)
  if config.distribution == "constant":
    ratios = tf.fill([batch_size], float(high))
  elif config.distribution == "uniform":
    ratios = _uniform([batch_size], ratio_seed, low, high)
  else:
    # Beta(a, a) as X / (X + Y) with X, Y ~ Gamma(a): folded to the smaller
    # share, then kept inside [low, high].
    if seed is None:
      x = tf.random.gamma([batch_size], config.beta_alpha)
      y = tf.random.gamma([batch_size], config.beta_alpha)
    else:
      x = tf.random.stateless_gamma([batch_size], x_seed, config.beta_alpha)
      y = tf.random.stateless_gamma([batch_size], y_seed, config.beta_alpha)
    share = tf.math.divide_no_nan(x, x + y)
    ratios = tf.clip_by_value(tf.minimum(share, 1 - share), low, high)
  if config.probability < 1:
    mixed = _uniform([batch_size], mixed_seed) < config.probability
    ratios = tf.where(mixed, ratios, 0.0)
  return ratios


def _rms(x):
  axes = list(range(1, len(x.shape)))
  return tf.sqrt(tf.reduce_mean(tf.square(x), axis=axes, keepdims=True))


def mix(x, partners, ratios, match_level=False):
  """(1 - r) x + r x[partners] over the first axis, in x's dtype.

  With `match_level`, x[partners] is first scaled to x's RMS level (a
  silent example or partner is left as it is). Integer inputs (uint8
  frames) are mixed in float32 and rounded back.
  """
  ratios = tf.reshape(ratios, [-1] + [1] * (len(x.shape) - 1))
  values = tf.cast(x, tf.float32)
  others = tf.gather(values, partners)
  if match_level:
    own, theirs = _rms(values), _rms(others)
    others *= tf.where(theirs > 0, tf.math.divide_no_nan(own, theirs), 1.0)
  mixed = (1 - ratios) * values + ratios * others
  if x.dtype.is_integer:
    mixed = tf.round(mixed)
  return tf.cast(mixed, x.dtype)


def mix_batch(batch, config, has_content=None, seed=None):
  """Mixes the `config.modalities` entries of a batch dict.

  `has_content` optionally names, per modality, a [batch] bool/0-1 tensor:
  a partner without content there (e.g. an audio-only clip's empty frames)
  is not mixed in. Other entries pass through untouched. `seed`: a
  stateless seed ([2] ints) for the batch's draws (the pipelines pass one
  per batch: waveform_ops.element_seeds), or None for stateful draws.
  """
  if not config.enabled:
    return batch
  check_config(config)
  keys = [k for k in config.modalities if k in batch]
  if not keys:
    return batch
  size = tf.shape(batch[keys[0]])[0]
  seeds = _seeds(seed, 2 * (len(keys) + 1))
  shared = (partner_indices(size, seeds[0]),
            mixing_ratios(size, config, seeds[1]))
  out = dict(batch)
  for i, key in enumerate(keys, 1):
    partners, ratios = shared if config.partners == "same" else (
        partner_indices(size, seeds[2 * i]),
        mixing_ratios(size, config, seeds[2 * i + 1]))
    if has_content and key in has_content:
      usable = tf.cast(tf.gather(has_content[key], partners), tf.float32)
      ratios = ratios * usable
    out[key] = mix(batch[key], partners, ratios,
                   match_level=key in tuple(config.match_level))
  return out
