"""The frontend's level and standardisation steps, and the Frontend that
chains them with the log-mel, checked against numpy computations."""

import numpy as np
import pytest
import tensorflow as tf

from common.models import frontend
from common.train import run_config


def rms(x):
  x = np.asarray(x, np.float64)
  return np.sqrt(np.mean(np.square(x), axis=-1))


def windows(gains, samples=4000, seed=0):
  """[len(gains), samples] uniform noise, window i scaled by gains[i]."""
  rng = np.random.default_rng(seed)
  x = rng.uniform(-1, 1, (len(gains), samples))
  return (x * np.asarray(gains)[:, None]).astype(np.float32)


# LevelNormalization.

def test_rms_mode_gives_each_window_unit_rms():
  x = windows([1e-2, 0.3, 1.0, 20.0])
  y = frontend.LevelNormalization("rms")(x).numpy()
  np.testing.assert_allclose(rms(y), 1.0, rtol=1e-5)
  # Only a scale: each window is its input times one positive number.
  np.testing.assert_allclose(y, x / rms(x)[:, None], rtol=1e-5)


def test_l2_mode_gives_each_window_unit_l2_norm():
  x = windows([1e-2, 0.3, 1.0, 20.0])
  y = frontend.LevelNormalization("l2")(x).numpy().astype(np.float64)
  np.testing.assert_allclose(np.linalg.norm(y, axis=-1), 1.0, rtol=1e-5)
  np.testing.assert_allclose(
      y, x / np.linalg.norm(x.astype(np.float64), axis=-1)[:, None],
      rtol=1e-5)


def test_none_mode_is_the_identity():
  x = windows([1e-3, 5.0])
  y = frontend.LevelNormalization("none")(x).numpy()
  np.testing.assert_array_equal(y, x)


def test_default_mode_is_none():
  assert frontend.LevelNormalization().mode == "none"


def test_window_quieter_than_min_rms_is_scaled_by_one_over_min_rms():
  x = windows([1e-6, 1e-5])  # RMS ~6e-7 and ~6e-6, under min_rms=1e-4
  y = frontend.LevelNormalization("rms", min_rms=1e-4)(x).numpy()
  np.testing.assert_allclose(y, x / 1e-4, rtol=1e-5)
  assert (rms(y) < 0.1).all()  # not blown up to unit RMS


def test_quiet_window_in_l2_mode_uses_min_rms_too():
  x = windows([1e-6])
  y = frontend.LevelNormalization("l2", min_rms=1e-4)(x).numpy()
  np.testing.assert_allclose(y, x / 1e-4 / np.sqrt(x.shape[-1]), rtol=1e-5)


def test_quiet_and_loud_windows_in_one_batch_are_levelled_independently():
  x = windows([1e-6, 1.0])
  y = frontend.LevelNormalization("rms")(x).numpy()
  np.testing.assert_allclose(y[0], x[0] / 1e-4, rtol=1e-5)
  np.testing.assert_allclose(rms(y[1]), 1.0, rtol=1e-5)


@pytest.mark.parametrize("mode", ["rms", "l2"])
def test_all_zero_window_stays_zero(mode):
  x = np.zeros([2, 1000], np.float32)
  y = frontend.LevelNormalization(mode)(x).numpy()
  assert np.isfinite(y).all()
  np.testing.assert_array_equal(y, 0.0)


def test_samples_far_beyond_full_scale_give_finite_unit_rms():
  x = windows([1e30, 1e36])
  y = frontend.LevelNormalization("rms")(x).numpy()
  assert np.isfinite(y).all()
  np.testing.assert_allclose(rms(y), 1.0, rtol=1e-5)


# 1 / rms would be subnormal here (flushed to zero on CPU): the level step
# divides instead.
@pytest.mark.parametrize("mode", ["rms", "l2"])
def test_samples_near_float32_max_give_finite_output_at_unit_level(mode):
  x = windows([3e38, 3e38], samples=1000)
  assert np.isfinite(x).all()
  y = frontend.LevelNormalization(mode)(x).numpy().astype(np.float64)
  assert np.isfinite(y).all()
  level = rms(y) if mode == "rms" else np.linalg.norm(y, axis=-1)
  np.testing.assert_allclose(level, 1.0, rtol=1e-4)


def test_invalid_level_mode_is_a_value_error_naming_frontend_level():
  with pytest.raises(ValueError, match=r"frontend\.level"):
    frontend.LevelNormalization("peak")


# Standardization.

def log_mels(seed=0, n=4, frames=10, bands=8):
  """[n, frames, bands, 1] with a different mean and spread per band."""
  rng = np.random.default_rng(seed)
  offsets = np.linspace(-8.0, 3.0, bands)
  spreads = np.linspace(0.5, 4.0, bands)
  x = offsets[:, None] + spreads[:, None] * rng.standard_normal(
      (n, frames, bands, 1))
  return x.astype(np.float32)


def adapted(mode, x):
  """A Standardization of `mode` built for `x` and adapted on it."""
  layer = frontend.Standardization(mode)
  layer.build(x.shape)
  layer.adapt(x)
  return layer


def test_global_standardization_stores_numpy_mean_and_std():
  x = log_mels()
  layer = adapted("global", x)
  x64 = x.astype(np.float64)
  assert tuple(layer.mean.shape) == ()
  np.testing.assert_allclose(layer.mean.numpy(), x64.mean(), rtol=1e-6)
  np.testing.assert_allclose(layer.std.numpy(), x64.std(), rtol=1e-6)


def test_global_standardization_gives_zero_mean_unit_std_overall():
  x = log_mels()
  layer = adapted("global", x)
  y = layer(x).numpy().astype(np.float64)
  assert abs(y.mean()) < 1e-5
  assert abs(y.std() - 1.0) < 1e-5
  # One affine map for every band: band means still differ.
  assert np.ptp(y.mean(axis=(0, 1, 3))) > 1.0


def test_band_standardization_stores_numpy_mean_and_std_per_band():
  x = log_mels()
  layer = adapted("band", x)
  x64 = x.astype(np.float64)
  assert tuple(layer.mean.shape) == (8, 1)
  np.testing.assert_allclose(layer.mean.numpy()[:, 0],
                             x64.mean(axis=(0, 1, 3)), rtol=1e-5, atol=1e-6)
  np.testing.assert_allclose(layer.std.numpy()[:, 0],
                             x64.std(axis=(0, 1, 3)), rtol=1e-5)


def test_band_standardization_gives_zero_mean_unit_std_per_band():
  x = log_mels()
  layer = adapted("band", x)
  y = layer(x).numpy().astype(np.float64)
  np.testing.assert_allclose(y.mean(axis=(0, 1, 3)), 0.0, atol=1e-5)
  np.testing.assert_allclose(y.std(axis=(0, 1, 3)), 1.0, rtol=1e-5)


def test_constant_data_gets_the_std_floor_instead_of_zero():
  x = np.full([2, 5, 4, 1], -3.0, np.float32)
  layer = adapted("global", x)
  np.testing.assert_allclose(layer.std.numpy(), 1e-3)
  y = layer(x).numpy()
  assert np.isfinite(y).all()
  np.testing.assert_allclose(y, 0.0, atol=1e-4)


@pytest.mark.parametrize("mode", ["global", "band"])
def test_unadapted_standardization_is_the_identity(mode):
  x = log_mels()
  layer = frontend.Standardization(mode)
  y = layer(x).numpy()
  np.testing.assert_array_equal(y, x)
  np.testing.assert_array_equal(layer.mean.numpy(), 0.0)
  np.testing.assert_array_equal(layer.std.numpy(), 1.0)


def test_none_standardization_is_the_identity_and_has_no_weights():
  x = log_mels()
  layer = frontend.Standardization("none")
  y = layer(x).numpy()
  np.testing.assert_array_equal(y, x)
  layer.adapt(x)  # a no-op
  np.testing.assert_array_equal(layer(x).numpy(), x)
  assert layer.weights == []


def test_invalid_standardization_mode_is_a_value_error():
  with pytest.raises(ValueError, match=r"frontend\.standardize"):
    frontend.Standardization("instance")


# Frontend.

def project_frontend():
  return frontend.from_config(run_config.frontend_config())


def test_from_config_uses_the_configured_steps():
  f = project_frontend()
  config = run_config.frontend_config()
  assert f.level.mode == config.level
  assert f.level.min_rms == config.min_rms
  assert f.standardize.mode == config.standardize
  assert f.log_mel.log_floor == config.log_floor
  assert f.log_mel.mel_bands == config.mel_bands


def test_frontend_call_equals_features_of_level():
  f = project_frontend()
  x = windows([0.01, 1.0, 7.0])
  f.adapt(x)  # non-trivial statistics
  np.testing.assert_allclose(f(x).numpy(), f.features(f.level(x)).numpy(),
                             rtol=1e-6, atol=1e-6)


def test_frontend_matches_its_steps_built_separately():
  config = run_config.frontend_config()
  f = frontend.from_config(config)
  x = windows([0.01, 1.0, 7.0])
  f.adapt(x)
  levelled = x / rms(x)[:, None]  # all above min_rms
  log_mel = frontend.LogMelSpectrogram(**frontend.log_mel_config(config))
  want = (log_mel(levelled.astype(np.float32)).numpy()
          - f.standardize.mean.numpy()) / f.standardize.std.numpy()
  np.testing.assert_allclose(f(x).numpy(), want, rtol=1e-4, atol=1e-4)


def test_frontend_adapt_measures_statistics_of_levelled_log_mels():
  f = project_frontend()
  x = windows([0.01, 1.0, 7.0])
  f.adapt(x)
  raw = f.log_mel(f.level(x)).numpy().astype(np.float64)
  np.testing.assert_allclose(f.standardize.mean.numpy(), raw.mean(),
                             rtol=1e-5)
  np.testing.assert_allclose(f.standardize.std.numpy(), raw.std(), rtol=1e-5)
  y = f(x).numpy().astype(np.float64)
  assert abs(y.mean()) < 1e-4
  assert abs(y.std() - 1.0) < 1e-4


def test_frontend_weight_paths_do_not_depend_on_earlier_frontends():
  for _ in range(3):
    project_frontend()
  f = project_frontend()
  assert f.name == frontend.NAME  # fixed: the int8 export finds its ops by it
  assert [w.path for w in f.weights] == ["standardize/mean", "standardize/std"]
  f(windows([1.0]))
  assert [w.path for w in f.weights] == ["standardize/mean", "standardize/std"]


def test_frontend_without_standardization_has_no_weights():
  f = frontend.from_config(run_config.paper_frontend_config())
  assert f.weights == []


def test_adapted_statistics_round_trip_through_a_checkpoint(tmp_path):
  x = windows([0.01, 1.0, 7.0])
  saved = project_frontend()
  saved.adapt(x)
  path = tf.train.Checkpoint(frontend=saved).write(str(tmp_path / "ckpt"))

  restored = project_frontend()
  assert restored.standardize.mean.numpy() != saved.standardize.mean.numpy()
  tf.train.Checkpoint(frontend=restored).read(path).assert_consumed()
  np.testing.assert_array_equal(restored.standardize.mean.numpy(),
                                saved.standardize.mean.numpy())
  np.testing.assert_array_equal(restored.standardize.std.numpy(),
                                saved.standardize.std.numpy())
  np.testing.assert_array_equal(restored(x).numpy(), saved(x).numpy())
