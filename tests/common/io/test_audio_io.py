"""Reading real audio files of each supported format, and refusing bad ones."""

import numpy as np
import pytest
import soundfile

from common.io import audio_io


def tone(rate, seconds=1.0, freq=440.0, channels=1):
  t = np.arange(int(rate * seconds)) / rate
  x = 0.5 * np.sin(2 * np.pi * freq * t)
  return np.stack([x] * channels, axis=1) if channels > 1 else x


def dominant_frequency(x, rate):
  spectrum = np.abs(np.fft.rfft(x))
  return np.fft.rfftfreq(len(x), 1 / rate)[spectrum.argmax()]


@pytest.mark.parametrize("ext,subtype", [
    ("wav", "PCM_16"), ("wav", "FLOAT"), ("flac", "PCM_24"),
    ("ogg", "VORBIS"), ("mp3", "MPEG_LAYER_III")])
def test_reads_each_format_as_float32_mono_16k(tmp_path, ext, subtype):
  path = tmp_path / f"a.{ext}"
  soundfile.write(path, tone(16000), 16000, subtype=subtype)
  x = audio_io.read_audio(path)
  assert x.dtype == np.float32 and x.ndim == 1
  assert abs(len(x) - 16000) < 1200  # MP3 adds encoder delay/padding.
  assert np.abs(x).max() <= 1.0
  assert abs(dominant_frequency(x, 16000) - 440) < 3


def test_lossless_wav_round_trips_exactly(tmp_path):
  x = tone(16000).astype(np.float32)
  soundfile.write(tmp_path / "a.wav", x, 16000, subtype="FLOAT")
  np.testing.assert_array_equal(audio_io.read_audio(tmp_path / "a.wav"), x)


def test_stereo_is_down_mixed_and_44k_resampled(tmp_path):
  left = tone(44100, freq=1000.0)
  stereo = np.stack([left, np.zeros_like(left)], axis=1)
  soundfile.write(tmp_path / "s.wav", stereo, 44100)
  x = audio_io.read_audio(tmp_path / "s.wav")
  assert abs(len(x) - 16000) <= 1
  assert abs(dominant_frequency(x, 16000) - 1000) < 3
  np.testing.assert_allclose(np.abs(x[1000:-1000]).max(), 0.25, atol=0.01)


def test_int16_full_scale_maps_into_minus_one_one(tmp_path):
  x = np.array([-32768, 0, 32767] * 100, np.int16)
  soundfile.write(tmp_path / "i.wav", x, 16000, subtype="PCM_16")
  y = audio_io.read_audio(tmp_path / "i.wav")
  assert y.min() == -1.0 and y.max() <= 1.0


@pytest.mark.parametrize("make,reason", [
    (lambda p: p.write_bytes(b""), audio_io.EMPTY),  # As prepare says.
    (lambda p: p.write_bytes(b"RIFF\x00\x00garbage" * 10), audio_io.UNREADABLE),
    (lambda p: soundfile.write(p, np.zeros([0]), 16000), audio_io.EMPTY),
    (lambda p: soundfile.write(p, np.array([0.1, np.nan] * 800, np.float32),
                               16000, subtype="FLOAT"), audio_io.NON_FINITE),
    (lambda p: soundfile.write(p, np.array([0.1, np.inf] * 800, np.float32),
                               16000, subtype="FLOAT"), audio_io.NON_FINITE),
])
def test_bad_files_raise_a_typed_error_naming_file_and_reason(
    tmp_path, make, reason):
  path = tmp_path / "bad.wav"
  make(path)
  with pytest.raises(audio_io.AudioError) as error:
    audio_io.read_audio(path)
  assert error.value.reason == reason
  assert str(path) in str(error.value)


def test_missing_file_and_too_short(tmp_path):
  with pytest.raises(audio_io.AudioError, match="unreadable"):
    audio_io.read_audio(tmp_path / "missing.wav")
  soundfile.write(tmp_path / "short.wav", tone(16000, 0.01), 16000)
  with pytest.raises(audio_io.AudioError, match="too_short"):
    audio_io.read_audio(tmp_path / "short.wav", min_samples=16000)
