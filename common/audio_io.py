"""Reading audio files into float32 mono 16 kHz waveforms.

Files are decoded with `soundfile` (libsndfile: WAV, FLAC, OGG/Vorbis/Opus,
MP3), down-mixed to mono and resampled with `soxr`. Anything that cannot be
used raises `AudioError`, whose `reason` is a short stable key that data
sources count skips by.
"""

import os

import numpy as np
import soundfile
import soxr

SAMPLE_RATE = 16000

# Stable reason keys, counted by the data sources and printed in summaries.
UNREADABLE = "unreadable"
EMPTY = "empty"
NON_FINITE = "non_finite"
TOO_SHORT = "too_short"


class AudioError(ValueError):
  """A file that cannot be used as audio; names the file and the reason."""

  def __init__(self, path, reason, detail=""):
    self.path = str(path)
    self.reason = reason
    self.detail = detail
    message = f"{self.path}: {reason}"
    if detail:
      message += f" ({detail})"
    super().__init__(message)


def to_mono(samples):
  """[samples] or [samples, channels] -> [samples], averaging channels."""
  samples = np.asarray(samples)
  if samples.ndim == 2:
    samples = samples.mean(axis=1)
  return samples


def resample(samples, rate, target_rate=SAMPLE_RATE):
  """Resamples a mono float waveform with soxr (high quality)."""
  if rate == target_rate:
    return samples
  return soxr.resample(samples, rate, target_rate, quality="HQ")


def check_waveform(waveform, path="<array>", min_samples=1):
  """Raises AudioError for empty, too short or non-finite waveforms."""
  if waveform.size == 0:
    raise AudioError(path, EMPTY, "no samples")
  if not np.all(np.isfinite(waveform)):
    raise AudioError(path, NON_FINITE, "NaN or inf samples")
  if waveform.size < min_samples:
    raise AudioError(
        path, TOO_SHORT, f"{waveform.size} samples < {min_samples}")
  return waveform


def read_audio(path, sample_rate=SAMPLE_RATE, min_samples=1):
  """Reads `path` as float32 mono at `sample_rate`, values in [-1, 1].

  Raises:
    AudioError: the file cannot be opened or decoded, holds no samples,
      holds NaN/inf, or is shorter than `min_samples` after resampling.
  """
  path = os.fspath(path)
  try:
    samples, rate = soundfile.read(path, dtype="float32", always_2d=True)
  except (soundfile.LibsndfileError, RuntimeError, OSError, ValueError,
          TypeError) as e:
    raise AudioError(path, UNREADABLE, str(e).strip() or type(e).__name__)
  samples = check_waveform(to_mono(samples), path)
  waveform = np.clip(resample(samples, rate, sample_rate), -1.0, 1.0)
  return check_waveform(waveform.astype(np.float32), path, min_samples)
