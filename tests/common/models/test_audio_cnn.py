"""Statistics pooling over time and the audio_cnn encoder
(common/models/encoders.py), against numpy."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from common.models import encoders
from common.models import mel_encoders


def frames(seed=0, batch=2, time=7, dim=5):
  rng = np.random.default_rng(seed)
  return rng.standard_normal((batch, time, dim)).astype(np.float32)


def pooled(x, pooling):
  return keras.ops.convert_to_numpy(
      mel_encoders.temporal_pooling(tf.constant(x), pooling))


def test_pooled_statistics_are_the_documented_ones():
  assert set(mel_encoders.POOLED_STATISTICS) == {"mean", "max", "std", "mean+max"}


def test_mean_pooling_matches_numpy():
  x = frames()
  np.testing.assert_allclose(pooled(x, "mean"), x.mean(axis=1), rtol=1e-5,
                             atol=1e-6)


def test_max_pooling_matches_numpy():
  x = frames()
  np.testing.assert_array_equal(pooled(x, "max"), x.max(axis=1))


def test_std_pooling_is_the_population_std_over_time():
  x = frames()
  # numpy's default ddof=0 is the population std; the layer adds 1e-6 to
  # the variance, well under this tolerance for unit-variance data.
  np.testing.assert_allclose(pooled(x, "std"), x.std(axis=1), rtol=1e-4,
                             atol=1e-5)


def test_std_pooling_of_a_constant_is_finite_and_near_zero():
  x = np.full([2, 4, 3], 5.0, np.float32)
  out = pooled(x, "std")
  assert np.isfinite(out).all()
  np.testing.assert_allclose(out, 0.0, atol=2e-3)


def test_mean_plus_max_is_their_sum():
  x = frames()
  np.testing.assert_allclose(pooled(x, "mean+max"),
                             x.mean(axis=1) + x.max(axis=1), rtol=1e-5,
                             atol=1e-6)


def test_comma_list_concatenates_in_order():
  x = frames()
  want = np.concatenate(
      [x.max(axis=1), x.mean(axis=1) + x.max(axis=1), x.std(axis=1),
       x.mean(axis=1)], axis=-1)
  out = pooled(x, "max,mean+max,std,mean")
  assert out.shape == (2, 4 * 5)
  np.testing.assert_allclose(out, want, rtol=1e-4, atol=1e-5)


def test_spaces_around_names_are_ignored():
  x = frames()
  np.testing.assert_allclose(pooled(x, " mean , max "),
                             pooled(x, "mean,max"), rtol=1e-6)


def test_std_pooling_layer_on_its_own():
  x = frames(seed=3)
  out = keras.ops.convert_to_numpy(mel_encoders.StdPooling1D()(tf.constant(x)))
  np.testing.assert_allclose(out, x.std(axis=1), rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("pooling", ["median", "mean,min", "", "mean,,max",
                                     "mean+std"])
def test_unknown_statistic_is_a_value_error(pooling):
  with pytest.raises(ValueError, match="pooling"):
    mel_encoders.temporal_pooling(tf.constant(frames()), pooling)


def small_audio_cnn(**overrides):
  kwargs = dict(width=(4, 8, 8), blocks=3, dense_dim=16, dense_layers=2,
                pooling="mean+max,std")
  kwargs.update(overrides)
  return encoders.build("audio_cnn", (98, 64, 1), **kwargs)


def test_audio_cnn_is_registered():
  assert "audio_cnn" in encoders.names()


def test_audio_cnn_output_dim_is_dense_dim_per_statistic():
  model = small_audio_cnn()
  assert model.output_shape == (None, 32)
  x = np.random.default_rng(0).standard_normal((2, 98, 64, 1))
  out = keras.ops.convert_to_numpy(model(x.astype(np.float32)))
  assert out.shape == (2, 32)
  assert np.isfinite(out).all()


def test_audio_cnn_per_block_widths_set_each_conv():
  model = small_audio_cnn()
  assert [model.get_layer(f"conv{i}").filters for i in range(3)] == [4, 8, 8]
  # Three 2x2 poolings: 98 -> 12 frames, 64 -> 8 bands of 8 channels.
  assert model.get_layer("frames").output.shape == (None, 12, 64)


def test_audio_cnn_single_width_is_used_for_every_block():
  model = small_audio_cnn(width=4, blocks=2, pooling="mean")
  assert [model.get_layer(f"conv{i}").filters for i in range(2)] == [4, 4]
  assert model.output_shape == (None, 16)


def test_audio_cnn_width_tuple_of_wrong_length_is_a_value_error():
  with pytest.raises(ValueError, match="widths"):
    small_audio_cnn(width=(4, 8), blocks=3)
