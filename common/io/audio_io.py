"""Reading audio files into float32 mono 16 kHz waveforms.

Files are decoded with `soundfile` (libsndfile: WAV, FLAC, OGG/Vorbis/Opus,
MP3), down-mixed to mono and resampled with `soxr`. Anything that cannot be
used raises `AudioError`, whose `reason` is a short stable key that data
sources count skips by; the keys mean what they mean for
`multimodal.prepare` (common/io/media.py), so both count a file alike.
"""

import os
import stat
import struct

import numpy as np
import soundfile
import soxr
import tensorflow as tf

from common.io import filesystem

# What a folder of audio (`files:`, `common.embed`) is read for.
AUDIO_EXTENSIONS = (".wav", ".flac", ".ogg", ".oga", ".opus", ".mp3",
                    ".aiff", ".aif", ".au")

SAMPLE_RATE = 16000

# Stable reason keys, counted by the data sources and printed in summaries.
UNREADABLE = "unreadable"
EMPTY = "empty"
NON_FINITE = "non_finite"
TOO_SHORT = "too_short"
TRUNCATED = "truncated"    # ends before the length its header declares
CORRUPT = "corrupt"        # a decoding error part-way through
BAD_SAMPLE_RATE = "bad_sample_rate"  # a header rate no recording has
TOO_LONG = "too_long"      # longer than MAX_SECONDS (held whole in memory)

# Memory per input is bounded by these, never by what a header claims: a
# rate outside them would make the resampler multiply (1 Hz: 16,000x) or
# the header is garbage; a file decoded whole (files: sources, prepare)
# stops at MAX_SECONDS (an hour: 230 MB at 16 kHz). common.embed streams
# and has no length limit.
MIN_SAMPLE_RATE = 1000
MAX_SAMPLE_RATE = 768000
MAX_SECONDS = 3600.0

# Decoded audio shorter than declared by more than this share (and more
# than TRUNCATION_SLACK_SECONDS) means the file was cut off.
TRUNCATION_SHARE = 0.05
TRUNCATION_SLACK_SECONDS = 0.5
# libsndfile reports this many frames (or more) when it does not know.
_UNKNOWN_FRAMES = 1 << 62
_BLOCK_FRAMES = 1 << 20


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


def seconds_to_samples(seconds, rate):
  """Samples (or frames) in `seconds` at `rate`, rounded to the nearest: the
  one rule every crop, window, hop and clip length of the project follows
  (0.95 s at 16 kHz is 15200 samples, where int() gave 15199)."""
  return int(round(float(seconds) * rate))


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


def is_truncated(declared_seconds, decoded_seconds):
  """True when decoding stopped well short of the declared length."""
  return declared_seconds - decoded_seconds > max(
      TRUNCATION_SLACK_SECONDS, TRUNCATION_SHARE * declared_seconds)


def wav_declared_seconds(source):
  """Seconds the data chunk of a RIFF/WAVE header declares, else None.

  libsndfile and FFmpeg both shorten a WAV's length to what the file holds,
  so a cut-off WAV would pass as a short one; its header still says how
  long it was. `source` is a path or a seekable binary file object. Sizes
  0 and 0xFFFFFFFF (left by streaming writers) mean "unknown".
  """
  if isinstance(source, (str, bytes, os.PathLike)):
    try:
      with filesystem.open(source, "rb") as f:
        return wav_declared_seconds(f)
    except OSError:
      return None
  position = source.tell()
  try:
    source.seek(0)
    head = source.read(12)
    if len(head) < 12 or head[:4] != b"RIFF" or head[8:12] != b"WAVE":
      return None
    byte_rate = None
    for _ in range(64):  # Chunks before "data": fmt, LIST, fact, ...
      header = source.read(8)
      if len(header) < 8:
        return None
      size = struct.unpack("<I", header[4:])[0]
      if header[:4] == b"fmt ":
        body = source.read(size + (size & 1))
        if len(body) < 12:
          return None
        byte_rate = struct.unpack("<I", body[8:12])[0]
      elif header[:4] == b"data":
        if not byte_rate or size in (0, 0xFFFFFFFF):
          return None
        return size / byte_rate
      else:
        source.seek(size + (size & 1), os.SEEK_CUR)
    return None
  finally:
    source.seek(position)


def _check_file(path):
  """Stat before opening: a FIFO or device would block the reader, and a
  zero-length file is empty rather than of an unknown format."""
  if filesystem.is_remote(path):
    _check_remote_file(path)
    return
  try:
    info = os.stat(path)
  except OSError as e:
    raise AudioError(path, UNREADABLE, e.strerror or type(e).__name__)
  if not stat.S_ISREG(info.st_mode):
    kind = "a folder" if stat.S_ISDIR(info.st_mode) else "not a regular file"
    raise AudioError(path, UNREADABLE, kind)
  if info.st_size == 0:
    raise AudioError(path, EMPTY, "zero-length file")


def _check_remote_file(path):
  try:
    info = tf.io.gfile.stat(path)
  except tf.errors.OpError as e:
    raise AudioError(path, UNREADABLE, e.message.strip().rsplit("; ", 1)[-1])
  if info.is_directory:
    raise AudioError(path, UNREADABLE, "a folder")
  if info.length == 0:
    raise AudioError(path, EMPTY, "zero-length file")


class _RemoteSoundFile(soundfile.SoundFile):
  """A SoundFile reading a remote path through its gfile object, which
  closes with it."""

  def __init__(self, path):
    self._source = filesystem.open(path, "rb")
    try:
      super().__init__(self._source)
    except BaseException:
      self._source.close()
      raise

  def close(self):
    super().close()
    self._source.close()


def _why(error):
  """libsndfile's own words (its str() repeats the path as bytes)."""
  text = getattr(error, "error_string", None) or str(error)
  return text.strip() or type(error).__name__


def check_sample_rate(path, rate):
  """Raises AudioError (bad_sample_rate) for a rate outside the bounds."""
  if not MIN_SAMPLE_RATE <= rate <= MAX_SAMPLE_RATE:
    raise AudioError(path, BAD_SAMPLE_RATE, f"{rate} Hz is outside "
                     f"{MIN_SAMPLE_RATE}-{MAX_SAMPLE_RATE} Hz")


def open_sound(path):
  """The checked soundfile.SoundFile of `path`: what read_audio and the
  streaming reader (audio_stream) both start from, so they agree on every
  reason. Raises AudioError."""
  path = os.fspath(path)
  _check_file(path)
  try:
    # Bytes: libsndfile would take a str as UTF-8, which names need not be.
    sound = (_RemoteSoundFile(path) if filesystem.is_remote(path)
             else soundfile.SoundFile(os.fsencode(path)))
  except (soundfile.LibsndfileError, RuntimeError, OSError, ValueError,
          TypeError) as e:
    raise AudioError(path, UNREADABLE, _why(e))
  try:
    check_sample_rate(path, sound.samplerate)
  except AudioError:
    sound.close()
    raise
  return sound


def declared_seconds(path, sound):
  """The length the file's headers declare (0.0 when they do not)."""
  seconds = (sound.frames / sound.samplerate
             if sound.frames < _UNKNOWN_FRAMES else 0.0)
  return max(seconds, wav_declared_seconds(path) or 0.0)


def check_complete(path, declared, decoded):
  """Raises AudioError (truncated) when decoding stopped well short of
  the declared length."""
  if is_truncated(declared, decoded):
    raise AudioError(path, TRUNCATED,
                     f"{decoded:.2f} s decoded of {declared:.2f} s declared")


def _decode(path, max_seconds=MAX_SECONDS):
  """All samples [frames, channels] and the rate, read in blocks (a header
  claiming a huge length allocates nothing; reading stops past
  `max_seconds`)."""
  with open_sound(path) as sound:
    rate = sound.samplerate
    blocks, frames = [], 0
    try:
      while True:
        block = sound.read(_BLOCK_FRAMES, dtype="float32", always_2d=True)
        if not len(block):
          break
        blocks.append(block)
        frames += len(block)
        if frames / rate > max_seconds:
          raise AudioError(path, TOO_LONG, f"more than {max_seconds:.0f} s "
                           "(split it, or stream it with common.embed)")
    except (soundfile.LibsndfileError, RuntimeError, ValueError) as e:
      if isinstance(e, AudioError):
        raise
      raise AudioError(path, CORRUPT, _why(e))
    declared = declared_seconds(path, sound)
    channels = sound.channels
  samples = (np.concatenate(blocks) if blocks else
             np.zeros([0, channels], np.float32))
  check_complete(path, declared, len(samples) / rate)
  return samples, rate


def read_audio(path, sample_rate=SAMPLE_RATE, min_samples=1,
               max_seconds=MAX_SECONDS):
  """Reads `path` as float32 mono at `sample_rate`, values in [-1, 1].

  Raises:
    AudioError: the file cannot be opened (`unreadable`: also folders,
      FIFOs, missing files), holds no samples (`empty`), declares a rate
      outside MIN/MAX_SAMPLE_RATE (`bad_sample_rate`), is longer than
      `max_seconds` (`too_long`), stops before its declared length
      (`truncated`) or fails part-way (`corrupt`), holds NaN/inf, or is
      shorter than `min_samples` after resampling.
  """
  path = os.fspath(path)
  samples, rate = _decode(path, max_seconds)
  samples = check_waveform(to_mono(samples), path)
  waveform = np.clip(resample(samples, rate, sample_rate), -1.0, 1.0)
  return check_waveform(waveform.astype(np.float32), path, min_samples)
