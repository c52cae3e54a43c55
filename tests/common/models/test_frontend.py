"""The log-mel layer against an independent numpy computation."""

import numpy as np
import tensorflow as tf

from common.models import frontend


def hz_to_mel(hz):
  return 1127.0 * np.log1p(np.asarray(hz, np.float64) / 700.0)


def numpy_mel_matrix(bins, rate, bands, low, high):
  """Triangles in the mel domain over the FFT bins, DC bin zeroed."""
  bin_mel = hz_to_mel(np.linspace(0, rate / 2, bins))
  edges = np.linspace(hz_to_mel(low), hz_to_mel(high), bands + 2)
  left, centre, right = edges[:-2], edges[1:-1], edges[2:]
  up = (bin_mel[:, None] - left) / (centre - left)
  down = (right - bin_mel[:, None]) / (right - centre)
  weights = np.maximum(0.0, np.minimum(up, down))
  weights[0] = 0.0
  return weights


def numpy_log_mel(x, rate=16000, win=400, hop=160, nfft=1024, bands=64,
                  low=60.0, high=7800.0):
  count = 1 + (len(x) - win) // hop
  frames = np.stack([x[i * hop:i * hop + win] for i in range(count)])
  window = 0.5 - 0.5 * np.cos(2 * np.pi * np.arange(win) / win)  # periodic
  magnitude = np.abs(np.fft.rfft(frames * window, n=nfft))
  mel = magnitude @ numpy_mel_matrix(nfft // 2 + 1, rate, bands, low, high)
  return np.log(np.clip(mel, 1e-5, 1e8))


def test_one_second_gives_98_frames_of_64_bands():
  layer = frontend.LogMelSpectrogram()
  out = layer(tf.zeros([3, 16000]))
  assert out.shape == (3, 98, 64, 1)
  assert frontend.num_frames(16000) == 98
  assert layer.compute_output_shape((None, 16000)) == (None, 98, 64, 1)


def test_matches_numpy_log_mel():
  rng = np.random.default_rng(0)
  t = np.arange(16000) / 16000
  clips = np.stack([
      0.5 * np.sin(2 * np.pi * 440 * t) + 0.01 * rng.standard_normal(16000),
      rng.uniform(-1, 1, 16000),
      0.001 * rng.standard_normal(16000),  # mostly under the log floor
  ]).astype(np.float32)
  got = frontend.LogMelSpectrogram()(clips).numpy()[..., 0]
  want = np.stack([numpy_log_mel(c.astype(np.float64)) for c in clips])
  # float32 FFT vs float64: the log of small mel energies differs slightly.
  max_abs = np.abs(got - want).max()
  assert max_abs < 2e-3, max_abs


def test_power_option_squares_the_spectrum():
  x = tf.random.uniform([1, 16000], -1, 1, seed=1)
  magnitude = frontend.LogMelSpectrogram()(x)
  power = frontend.LogMelSpectrogram(magnitude=False)(x)
  assert not np.allclose(magnitude.numpy(), power.numpy())
