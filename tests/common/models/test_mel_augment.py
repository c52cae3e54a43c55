"""Random resized crop of log-mel batches (common/models/mel_augment.py)."""

import numpy as np
import pytest
import tensorflow as tf

from common.models import mel_augment


def ramp_along_time(batch=3, frames=20, bands=8):
  """[batch, frames, bands, 1] whose value is the frame index."""
  t = np.arange(frames, dtype=np.float32)
  return tf.constant(np.broadcast_to(
      t[None, :, None, None], (batch, frames, bands, 1)).copy())


def random_log_mels(batch=3, frames=20, bands=8):
  rng = np.random.default_rng(0)
  return tf.constant(rng.standard_normal((batch, frames, bands, 1)),
                     tf.float32)


def test_default_config_is_disabled():
  assert not mel_augment.random_resized_crop_config().enabled


def test_disabled_config_returns_the_input_tensor_unchanged():
  x = random_log_mels()
  out = mel_augment.random_resized_crop(
      x, mel_augment.random_resized_crop_config())
  assert out is x


def test_output_shape_equals_input_shape():
  tf.random.set_seed(0)
  config = mel_augment.random_resized_crop_config(enabled=True)
  for shape in [(3, 20, 8, 1), (1, 98, 64, 1), (2, 7, 5, 1)]:
    x = tf.random.normal(shape)
    out = mel_augment.random_resized_crop(x, config)
    assert tuple(out.shape) == shape
    assert np.isfinite(out.numpy()).all()


def test_unit_scales_crop_is_the_identity():
  tf.random.set_seed(0)
  config = mel_augment.random_resized_crop_config(
      enabled=True, time_scale=(1.0, 1.0), freq_scale=(1.0, 1.0))
  x = random_log_mels()
  out = mel_augment.random_resized_crop(x, config)
  np.testing.assert_allclose(out.numpy(), x.numpy(), rtol=1e-5, atol=1e-5)


def test_scales_below_one_zoom_into_a_time_ramp():
  tf.random.set_seed(0)
  low, high = 0.5, 0.7
  config = mel_augment.random_resized_crop_config(
      enabled=True, time_scale=(low, high), freq_scale=(low, high))
  x = ramp_along_time(batch=6, frames=20)
  out = mel_augment.random_resized_crop(x, config).numpy()[..., 0]
  full_range = 19.0
  for example in out:
    # Still a ramp: increasing along time, constant along frequency.
    assert (np.diff(example, axis=0) > 0).all()
    np.testing.assert_allclose(example, example[:, :1].repeat(8, 1),
                               atol=1e-5)
    # A zoom: a part of the original span, inside it, stretched to all
    # frames.
    span = example[-1, 0] - example[0, 0]
    assert low * full_range - 1e-3 <= span <= high * full_range + 1e-3
    assert example.min() >= -1e-5 and example.max() <= full_range + 1e-5


def test_examples_get_different_crops():
  tf.random.set_seed(0)
  config = mel_augment.random_resized_crop_config(
      enabled=True, time_scale=(0.5, 0.9), freq_scale=(1.0, 1.0))
  out = mel_augment.random_resized_crop(
      ramp_along_time(batch=4), config).numpy()
  assert len({round(float(v), 4) for v in out[:, 0, 0, 0]}) > 1


def test_check_config_accepts_valid_ranges():
  mel_augment.check_config(mel_augment.random_resized_crop_config())
  mel_augment.check_config(mel_augment.random_resized_crop_config(
      time_scale=(1.0, 1.0), freq_scale=(0.1, 3.0)))


@pytest.mark.parametrize("key", ["time_scale", "freq_scale"])
@pytest.mark.parametrize("scale", [(0.0, 1.0), (-0.5, 1.0), (1.5, 1.0)])
def test_check_config_rejects_nonpositive_or_reversed_range(key, scale):
  config = mel_augment.random_resized_crop_config(**{key: scale})
  with pytest.raises(ValueError, match=key):
    mel_augment.check_config(config)


@pytest.mark.parametrize("scale", [(0.6, 1.5), (0.3, 0.5), (1.2, 2.0)])
def test_resizing_matches_tf_image_crop_and_resize_on_the_same_boxes(scale):
  """The two matmuls compute tf.image.crop_and_resize's bilinear samples
  (zeros outside the plane), which XLA cannot compile itself."""
  config = mel_augment.random_resized_crop_config(
      enabled=True, time_scale=scale, freq_scale=scale)
  log_mels = tf.random.stateless_normal([6, 37, 16, 1], [4, 2])
  tf.random.set_seed(7)
  ours = mel_augment.random_resized_crop(log_mels, config)
  tf.random.set_seed(7)  # The same draws: the same boxes.
  t0, t1 = mel_augment._spans(6, *scale)  # pylint: disable=protected-access
  f0, f1 = mel_augment._spans(6, *scale)  # pylint: disable=protected-access
  reference = tf.image.crop_and_resize(
      log_mels, tf.stack([t0, f0, t1, f1], axis=1), tf.range(6),
      crop_size=[37, 16], extrapolation_value=0.0)
  np.testing.assert_allclose(ours.numpy(), reference.numpy(), atol=1e-5)
  compiled = tf.function(
      lambda x: mel_augment.random_resized_crop(x, config), jit_compile=True)
  assert compiled(log_mels).shape == log_mels.shape
