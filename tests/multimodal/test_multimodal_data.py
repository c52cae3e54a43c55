"""Clips with sound and picture: the synthetic renderer tells what is heard,
crops keep sound and frames aligned, and the tfrecord: and files: sources
give the same layout (audio-only clips kept, flagged and zero-framed)."""

import json
import os

import numpy as np
import pytest
import tensorflow as tf

from common.data import data_sources
from common.data import synthetic
from common.data import tfrecord_source
from multimodal.configs import tiny
from multimodal import data

RATE = 16000


def config(**overrides):
  c = tiny.get_config()
  c.mixing.enabled = False
  c.update(overrides)
  return c


def loud_clip(kind=0, pitch=440.0, envelope=None, seconds=2.0):
  n = int(seconds * RATE)
  envelope = np.ones(n, np.float32) if envelope is None else envelope
  return synthetic.Clip(np.zeros(n, np.float32), kind, envelope, pitch, 0.9)


def object_mask(frames, kind=0):
  """Pixels of the object: its hue's strongest channel, far above the
  background (at most 0.3 of full scale)."""
  channel = int(np.argmax(synthetic.HUES[kind]))
  return frames[..., channel] > 0.4 * 255


def test_frames_have_the_clip_duration_at_the_frame_rate():
  clip = synthetic.make_clips(1, seed=0)[0]
  frames = synthetic.render_frames(clip, fps=8, resolution=32, seed=(0, 0))
  assert frames.shape == (16, 32, 32, 3) and frames.dtype == np.uint8
  again = synthetic.render_frames(clip, fps=8, resolution=32, seed=(0, 0))
  np.testing.assert_array_equal(frames, again)


def test_pitch_sets_the_height_of_the_object():
  heights = []
  for pitch in (150.0, 600.0, 3000.0):
    mask = object_mask(synthetic.render_frames(loud_clip(pitch=pitch),
                                               resolution=32, seed=1))
    rows = np.nonzero(mask)[1]
    heights.append(rows.mean())
  assert heights[0] > heights[1] + 3 > heights[2] + 6  # Row 0 is the top.


def test_size_follows_the_loudness_and_shape_names_the_kind():
  ramp = np.linspace(0, 1, 2 * RATE).astype(np.float32)
  frames = synthetic.render_frames(loud_clip(envelope=ramp), resolution=32,
                                   seed=2)
  area = object_mask(frames).sum(axis=(1, 2))
  assert np.all(np.diff(area) >= 0) and area[-1] > 1.5 * area[0]
  shapes = {}
  for kind in range(synthetic.NUM_KINDS):
    mask = object_mask(synthetic.render_frames(loud_clip(kind), seed=3),
                       kind)[0]
    assert mask.sum() > 4, synthetic.KINDS[kind]
    shapes[kind] = mask
  for a in range(synthetic.NUM_KINDS):
    for b in range(a):
      assert np.any(shapes[a] != shapes[b])


def timed_bank(seconds=(2.0,), fps=4.0, size=16, video=(True,)):
  """Audio sample = its time in seconds; frame k's pixels = 10 k."""
  audio, frames = [], []
  for duration, has_video in zip(seconds, video):
    audio.append((np.arange(int(duration * RATE)) / RATE).astype(np.float32))
    count = int(duration * fps) if has_video else 0
    frames.append(np.broadcast_to(
        (np.arange(count) * 10).astype(np.uint8)[:, None, None, None],
        (count, size, size, 3)).copy())
  return data.AvBank(audio, frames, fps, size, np.zeros(len(audio), np.int64))


@pytest.mark.parametrize("fps,resolution", [(4.0, 16), (2.0, 8)])
def test_crops_keep_sound_and_frames_aligned(fps, resolution):
  c = config(fps=fps, resolution=resolution, crop_seconds=1.0)
  ds = data.av_dataset(timed_bank(), 4.0, c, batch_size=4)
  starts = set()
  for batch in ds.take(10):
    for audio, frames, has_video in zip(batch["audio"].numpy(),
                                        batch["frames"].numpy(),
                                        batch["has_video"].numpy()):
      assert audio.shape == (RATE,) and has_video == 1
      assert frames.shape == (int(fps), resolution, resolution, 3)
      first = frames[0, 0, 0, 0] / 10  # The source frame the crop starts on.
      np.testing.assert_allclose(audio[0], first / 4.0, atol=1e-6)
      want = first + np.arange(int(fps)) * 4.0 / fps
      np.testing.assert_array_equal(frames[:, 0, 0, 0], want * 10)
      starts.add(first)
  assert len(starts) > 1  # Random starts, all on the frame grid.


def test_audio_only_and_short_clips_are_kept_flagged_and_padded():
  c = config(fps=4.0, resolution=16)
  bank = timed_bank(seconds=(0.5, 2.0), video=(True, False))
  ds = data.av_dataset(bank, 4.0, c, batch_size=2, shuffle=False)
  batch = next(iter(ds))
  audio, frames, has_video = (batch[k].numpy() for k in
                              ("audio", "frames", "has_video"))
  np.testing.assert_array_equal(has_video, [1, 0])
  np.testing.assert_allclose(audio[0, :RATE // 2],
                             np.arange(RATE // 2) / RATE, atol=1e-6)
  assert np.all(audio[0, RATE // 2:] == 0)  # Padded at the end.
  np.testing.assert_array_equal(frames[0, :, 0, 0, 0], [0, 10, 10, 10])
  assert np.all(frames[1] == 0)


def test_crops_keep_the_clips_own_level():
  """The pipeline does not scale audio: the model's frontend levels each
  window, as the exported model does (common/models/frontend.py)."""
  c = config(fps=4.0, resolution=16)
  bank = timed_bank(seconds=(1.0,))
  ds = data.av_dataset(bank, 4.0, c, batch_size=2)
  audio = next(iter(ds))["audio"].numpy()
  np.testing.assert_array_equal(audio[0], bank.audio[0])


def ramp_bank(count=4, seconds=3.0):
  """Clip k is the ramp k + 1 + i / n: a crop's samples tell where it was
  cut and from which clip."""
  n = int(seconds * RATE)
  return data.AvBank(
      [(k + 1 + np.arange(n) / n).astype(np.float32) for k in range(count)],
      [np.zeros([0, 16, 16, 3], np.uint8)] * count, 4.0, 16,
      np.zeros([count], np.int64))


def test_independent_mel_crop_is_another_window_of_the_same_clip():
  c = config(fps=4.0, resolution=16, mel_crop="independent")
  n = int(3.0 * RATE)
  batch = next(iter(data.av_dataset(ramp_bank(), 0.0, c, batch_size=4)))
  audio, mel = (batch[k].numpy().astype(np.float64)
                for k in ("audio", "mel_audio"))
  assert mel.shape == audio.shape == (4, RATE)
  for wave_window, mel_window in zip(audio, mel):
    for window in (wave_window, mel_window):
      np.testing.assert_allclose(np.diff(window), 1 / n, atol=1e-6)
    assert np.floor(wave_window[0]) == np.floor(mel_window[0])
  assert not np.allclose(audio, mel)
  # Aligned: no second window.
  aligned = next(iter(data.av_dataset(ramp_bank(), 0.0, config(
      mel_crop="aligned"), batch_size=4)))
  assert "mel_audio" not in aligned


def test_the_default_mixes_each_audio_view_with_its_own_partner():
  c = tiny.get_config()
  assert c.mel_crop == "independent" and c.mixing.partners == "independent"
  assert set(c.mixing.modalities) >= {"audio", "mel_audio"}
  batch = next(iter(data.av_dataset(ramp_bank(8), 0.0, c, batch_size=8)))
  n = int(3.0 * RATE)
  slopes = {k: np.diff(batch[k].numpy().astype(np.float64)).mean(1) * n
            for k in ("audio", "mel_audio")}
  for k, slope in slopes.items():
    assert np.mean(np.abs(slope - 1) > 1e-4) > 0.5, (k, slope)
  assert not np.allclose(slopes["audio"], slopes["mel_audio"])


def test_an_unknown_mel_crop_is_a_clear_error():
  with pytest.raises(ValueError, match="mel_crop"):
    data.av_dataset(ramp_bank(), 0.0, config(mel_crop="shifted"), 4)


def write_shards(folder, fps=4.0, size=16):
  """Two shards: clips with 2 s of frames, and one audio-only clip."""
  os.makedirs(folder)
  bank = timed_bank(seconds=(2.0, 2.0, 2.0), fps=fps, size=size,
                    video=(True, True, False))
  for shard in range(2):
    path = os.path.join(folder, tfrecord_source.shard_name(shard, 2))
    with tf.io.TFRecordWriter(path) as writer:
      for i in range(shard, 3, 2):
        frames = bank.frames[i]
        writer.write(tfrecord_source.encode_example(
            f"v{i}#0", bank.audio[i] / 4, RATE, frames if len(frames) else
            None, frame_rate=fps if len(frames) else 0.0, frame_size=size))
  spec = tfrecord_source.spec_json(
      {"sample_rate": RATE, "resolution": size, "fps": fps})
  with open(os.path.join(folder, tfrecord_source.SPEC_FILE), "w") as f:
    json.dump(spec, f)


def test_tfrecord_clips_are_resized_resampled_and_flagged(tmp_path):
  write_shards(str(tmp_path / "prepared"))
  c = config(fps=2.0, resolution=8)
  source, fps = data.load(f"tfrecord:{tmp_path / 'prepared'}", c)
  assert fps == 4.0
  ds = data.av_dataset(source, fps, c, batch_size=3, shuffle=False)
  flags = []
  for batch in ds.take(4):
    assert batch["frames"].shape == (3, 2, 8, 8, 3)
    for audio, frames, has_video in zip(batch["audio"].numpy(),
                                        batch["frames"].numpy(),
                                        batch["has_video"].numpy()):
      flags.append(has_video)
      if has_video:  # JPEG is close, not exact, on flat frames.
        first = round(frames[0, 4, 4, 0] / 10)
        np.testing.assert_allclose(audio[0] * 4, first / 4.0, atol=1e-3)
        np.testing.assert_allclose(frames[1, 4, 4, 0], (first + 2) * 10,
                                   atol=3)
      else:
        assert np.all(frames == 0)
  assert 0 < np.mean(flags) < 1


def test_files_source_decodes_videos_and_counts_what_it_skips(tmp_path):
  from tests.media_files import write_media
  folder = tmp_path / "media"
  folder.mkdir()
  write_media(folder / "a.mp4", seconds=2.5)
  (folder / "broken.mp4").write_bytes(b"not a video at all")
  (folder / "notes.txt").write_text("ignored: not media")
  c = config(fps=4.0, resolution=16, source_clip_seconds=2.0)
  source, fps = data.load(f"files:{folder}", c)
  assert len(source) == 1 and source.skipped.counts == {"unreadable": 1}
  assert source.frames[0].shape == (8, 16, 16, 3)
  batch = next(iter(data.av_dataset(source, fps, c, batch_size=2)))
  assert batch["frames"].shape == (2, 4, 16, 16, 3)
  assert np.all(batch["has_video"].numpy() == 1)
  with pytest.raises(data_sources.NoUsableData, match="no usable media"):
    data.load(f"files:{folder}/broken.mp4", c)


def test_synthetic_default_has_colas_audio():
  """The same clips as COLA's synthetic source: a fair comparison."""
  bank = data.synthetic_av_bank(8, "train", fps=4.0, resolution=16)
  audio = data_sources.synthetic_bank(8, "train")
  for a, b in zip(bank.audio, audio.waveforms):
    np.testing.assert_array_equal(a, b)
  np.testing.assert_array_equal(bank.labels, audio.labels)
  assert bank.frames[0].shape == (8, 16, 16, 3)
