"""common/io/media.py on real media made here with PyAV: every container
and codec family users bring, and each way a file can be unusable.

The media files come from tests/media_files.py.
"""

import io
import os

import numpy as np
import pytest
import soundfile

from common.io import media as media_lib
from tests import media_files
from tests.media_files import SOURCE_FPS

SETTINGS = media_lib.ClipSettings(clip_seconds=1.0, fps=4.0, resolution=32)


def check_frames(frames, seconds, fps=SETTINGS.fps):
  """Frame k shows source frame floor(k * 25 / fps): red = 10 * index."""
  count = int(np.ceil(seconds * fps))
  assert frames.shape == (count, 32, 32, 3) and frames.dtype == np.uint8
  want = [(int(k * SOURCE_FPS / fps) * 10) % 256 for k in range(count)]
  got = frames[:, 16, 16, 0].astype(int)
  assert np.all(np.abs(got - want) <= 12), (got, want)


def test_h264_aac_mp4(tmp_path):
  media_files.require_encoders("libx264", "aac")
  path = tmp_path / "a.mp4"
  source = media_files.write_media(path, seconds=2.0)
  media = media_lib.decode(str(path), SETTINGS)
  reference = media_files.expected_at_16k(source, 44100)
  # AAC adds up to one frame of priming/padding; it is lossy, so compare by
  # correlation, which also fails if the audio were shifted by one sample.
  assert abs(media.audio.size - reference.size) <= 1024
  assert media_files.best_correlation(media.audio, reference) > 0.999
  assert media.has_video
  check_frames(media.frames, media.audio.size / 16000)


def test_vp9_opus_webm(tmp_path):
  media_files.require_encoders("libvpx-vp9", "libopus")
  path = tmp_path / "b.webm"
  source = media_files.write_media(path, seconds=2.0, video_codec="libvpx-vp9",
                       audio_codec="libopus", rate=48000)
  media = media_lib.decode(str(path), SETTINGS)
  reference = media_files.expected_at_16k(source, 48000)
  assert abs(media.audio.size - reference.size) <= 960
  assert media_files.best_correlation(media.audio, reference) > 0.99
  check_frames(media.frames, media.audio.size / 16000)


def test_lossless_mkv_is_exact_and_downmixed(tmp_path):
  """FLAC in MKV at 16 kHz: only int16 quantisation separates the samples;
  stereo (left x, right 0.5 x) averages to 0.75 x."""
  media_files.require_encoders("ffv1", "flac")
  path = tmp_path / "c.mkv"
  source = media_files.write_media(path, seconds=2.0, video_codec="ffv1",
                       audio_codec="flac", rate=16000, right_gain=0.5)
  media = media_lib.decode(str(path), SETTINGS)
  assert media.audio.shape == source.shape
  np.testing.assert_allclose(media.audio, source, atol=1e-4)
  check_frames(media.frames, 2.0)


def test_pcm_mov_and_mp3_avi_resample(tmp_path):
  media_files.require_encoders("mpeg4", "pcm_s16le", "libmp3lame")
  mov = tmp_path / "d.mov"
  source = media_files.write_media(mov, seconds=2.0, video_codec="mpeg4",
                       audio_codec="pcm_s16le", rate=44100)
  media = media_lib.decode(str(mov), SETTINGS)
  np.testing.assert_allclose(media.audio, media_files.expected_at_16k(source, 44100),
                             atol=2e-4)
  check_frames(media.frames, 2.0)
  avi = tmp_path / "e.avi"
  source = media_files.write_media(avi, seconds=2.0, video_codec="mpeg4",
                       audio_codec="libmp3lame", rate=44100)
  media = media_lib.decode(str(avi), SETTINGS)
  # AVI keeps no gapless info, so the MP3 codec delay (under two frames of
  # 1152 samples) stays at the start, as it does in users' files.
  reference = media_files.expected_at_16k(source, 44100)
  lags = range(0, 2 * 1152 * 16000 // 44100, 2)
  best = max(lags, key=lambda l: media_files.best_correlation(media.audio, reference,
                                                  lag=l))
  assert media_files.best_correlation(media.audio, reference, lag=best) > 0.99


def test_audio_only_flac_has_no_frames(tmp_path):
  path = tmp_path / "x.flac"
  signal = media_files.tone(2.6, 22050)
  soundfile.write(path, signal, 22050)
  clips = media_lib.read_clips(str(path), SETTINGS)
  assert [c.audio.size for c in clips] == [16000, 16000, 9600]
  assert all(c.frames.shape == (0, 32, 32, 3) for c in clips)
  joined = np.concatenate([c.audio for c in clips])
  np.testing.assert_allclose(joined, media_files.expected_at_16k(signal, 22050),
                             atol=1e-4)


def test_file_object_input(tmp_path):
  """Remote inputs arrive as file objects (tf.io.gfile.GFile)."""
  media_files.require_encoders("libx264", "aac")
  path = tmp_path / "a.mp4"
  media_files.write_media(path, seconds=1.0)
  from_path = media_lib.decode(str(path), SETTINGS)
  from_bytes = media_lib.decode(io.BytesIO(path.read_bytes()), SETTINGS,
                            path="mem://a.mp4")
  np.testing.assert_array_equal(from_path.audio, from_bytes.audio)
  np.testing.assert_array_equal(from_path.frames, from_bytes.frames)


def test_frames_keep_aspect_by_centre_crop(tmp_path):
  """96x64 -> 48x32 -> centre 32x32: columns 0-15 are the green half."""
  media_files.require_encoders("ffv1", "flac")
  path = tmp_path / "c.mkv"
  media_files.write_media(path, seconds=1.0, video_codec="ffv1", audio_codec="flac",
              rate=16000)
  frames = media_lib.decode(str(path), SETTINGS).frames
  green = frames[..., 1].astype(int)
  assert green[:, :, :14].min() > 150 and green[:, :, 18:].max() < 50


def test_fps_zero_skips_video(tmp_path):
  media_files.require_encoders("ffv1", "flac")
  path = tmp_path / "c.mkv"
  media_files.write_media(path, seconds=1.0, video_codec="ffv1", audio_codec="flac",
              rate=16000)
  settings = media_lib.ClipSettings(clip_seconds=1.0, fps=0.0, resolution=32)
  media = media_lib.decode(str(path), settings)
  assert media.frames.shape == (0, 32, 32, 3) and not media.has_video


def test_split_keeps_long_tails_and_drops_short_ones():
  frames = np.zeros([11, 32, 32, 3], np.uint8)
  media = media_lib.Media(np.zeros(int(2.6 * 16000), np.float32), frames, True)
  clips = media_lib.split(media, SETTINGS)
  assert [c.audio.size for c in clips] == [16000, 16000, 9600]
  assert [len(c.frames) for c in clips] == [4, 4, 3]
  assert [c.start_seconds for c in clips] == [0.0, 1.0, 2.0]
  media = media_lib.Media(np.zeros(int(2.3 * 16000), np.float32), frames, True)
  assert len(media_lib.split(media, SETTINGS)) == 2
  with pytest.raises(media_lib.MediaError) as e:
    media_lib.split(media_lib.Media(np.zeros(7000, np.float32), frames, True),
                SETTINGS)
  assert e.value.reason == media_lib.TOO_SHORT


def test_settings_need_whole_frames_per_clip():
  with pytest.raises(ValueError, match="whole number of frames"):
    media_lib.ClipSettings(clip_seconds=1.0, fps=2.5)


def _reason(path):
  with pytest.raises(media_lib.MediaError) as e:
    media_lib.decode(str(path), SETTINGS)
  assert isinstance(e.value, ValueError)  # Callers may catch AudioError.
  assert str(path) in str(e.value)
  return e.value.reason


def test_unusable_inputs_raise_with_reasons(tmp_path):
  media_files.require_encoders("libx264", "aac", "libvpx-vp9", "libopus", "flac", "ffv1")
  media_files.write_media(tmp_path / "good.mp4", seconds=2.0)
  media_files.write_media(tmp_path / "good.webm", seconds=2.0, video_codec="libvpx-vp9",
              audio_codec="libopus", rate=48000)
  media_files.write_media(tmp_path / "good.mkv", seconds=1.0, video_codec="ffv1",
              audio_codec="flac", rate=16000)
  media_files.write_media(tmp_path / "silent.mp4", seconds=1.0, audio_codec=None)
  (tmp_path / "zero.mp4").write_bytes(b"")
  (tmp_path / "noise.mkv").write_bytes(
      np.random.default_rng(0).bytes(4096))
  media_files.truncate(tmp_path / "good.mp4", tmp_path / "cut.mp4")
  media_files.truncate(tmp_path / "good.webm", tmp_path / "cut.webm")
  # A Matroska codec id FFmpeg has no decoder for.
  media_files.replace_once(tmp_path / "good.mkv", tmp_path / "odd.mkv", b"A_FLAC",
               b"A_QQQQ")
  assert _reason(tmp_path / "silent.mp4") == media_lib.NO_AUDIO_TRACK
  assert _reason(tmp_path / "zero.mp4") == media_lib.EMPTY
  assert _reason(tmp_path / "noise.mkv") == media_lib.UNREADABLE
  assert _reason(tmp_path / "missing.mp4") == media_lib.UNREADABLE
  assert _reason(tmp_path / "cut.mp4") == media_lib.TRUNCATED
  assert _reason(tmp_path / "cut.webm") == media_lib.TRUNCATED
  assert _reason(tmp_path / "odd.mkv") == media_lib.UNSUPPORTED_CODEC
  assert os.path.getsize(tmp_path / "good.mkv") > 0
