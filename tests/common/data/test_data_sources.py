"""--data sources: synthetic, files (with bad files counted), tfds (mocked)."""

import os

import numpy as np
import pytest
import soundfile
import tensorflow as tf
import tensorflow_datasets as tfds

from cola.configs import tiny
from cola import data as cola_data
from common.data import data_sources
from common.data import synthetic


def write_tone(path, seconds=1.5, rate=16000, freq=440.0):
  os.makedirs(os.path.dirname(path), exist_ok=True)
  t = np.arange(int(seconds * rate)) / rate
  soundfile.write(path, 0.3 * np.sin(2 * np.pi * freq * t), rate)


def test_synthetic_is_deterministic_and_balanced():
  a, b = data_sources.load("synthetic:24"), data_sources.load("synthetic:24")
  for x, y in zip(a.waveforms, b.waveforms):
    np.testing.assert_array_equal(x, y)
  assert np.bincount(a.labels).tolist() == [4] * synthetic.NUM_KINDS
  test = data_sources.synthetic_bank(24, split="test")
  assert not np.array_equal(test.waveforms[0], a.waveforms[0])
  for clip in a.waveforms:
    assert clip.dtype == np.float32 and np.abs(clip).max() <= 1.0


def test_files_labels_from_folders_and_bad_files_counted(tmp_path):
  write_tone(str(tmp_path / "dog" / "a.wav"))
  write_tone(str(tmp_path / "dog" / "b.flac"))
  write_tone(str(tmp_path / "cat" / "c.wav"), rate=44100)
  (tmp_path / "cat" / "empty.wav").write_bytes(b"")
  (tmp_path / "cat" / "junk.mp3").write_bytes(b"not audio at all" * 20)
  soundfile.write(tmp_path / "cat" / "nan.wav",
                  np.full(100, np.nan, np.float32), 16000, subtype="FLOAT")
  (tmp_path / "cat" / "notes.txt").write_text("ignored: not audio")
  bank = data_sources.load(f"files:{tmp_path}", progress=False)
  assert len(bank) == 3
  assert bank.label_names == ["cat", "dog"]
  assert sorted(bank.labels.tolist()) == [0, 1, 1]
  assert bank.skipped.counts == {"empty": 1, "unreadable": 1, "non_finite": 1}
  assert len(bank.skipped) == 3
  assert "3 files skipped" in bank.skipped.summary()
  examples = list(bank.dataset().as_numpy_iterator())
  assert sorted(len(e["audio"]) for e in examples) == [24000] * 3


def test_files_from_csv_and_glob(tmp_path):
  write_tone(str(tmp_path / "x" / "1.wav"))
  write_tone(str(tmp_path / "x" / "2.wav"))
  (tmp_path / "list.csv").write_text("path,label\nx/1.wav,yes\nx/2.wav,no\n")
  bank = data_sources.load(f"files:{tmp_path / 'list.csv'}", progress=False)
  assert bank.label_names == ["no", "yes"] and bank.labels.tolist() == [1, 0]
  bank = data_sources.load(f"files:{tmp_path}/x/*.wav", progress=False)
  assert len(bank) == 2 and bank.labels.tolist() == [-1, -1]


def test_all_bad_files_stop_with_a_clear_error(tmp_path):
  (tmp_path / "a.wav").write_bytes(b"")
  (tmp_path / "b.wav").write_bytes(b"xx")
  with pytest.raises(data_sources.NoUsableData, match="2 files skipped"):
    data_sources.load(f"files:{tmp_path}", progress=False)
  with pytest.raises(data_sources.NoUsableData, match="no audio files"):
    data_sources.load(f"files:{tmp_path}/nothing*.wav", progress=False)


def test_unknown_spec_is_a_clear_error():
  with pytest.raises(ValueError, match="expected synthetic"):
    data_sources.load("s3://bucket")


def test_tfds_source_with_mock_data():
  with tfds.testing.mock_data(num_examples=6,
                              policy=tfds.testing.MockPolicy.USE_CODE):
    source = data_sources.load("tfds:speech_commands:train")
    assert source.num_classes == 12 and source.sample_rate == 16000
    examples = list(source.dataset().take(4).as_numpy_iterator())
  for e in examples:
    assert e["audio"].dtype == np.float32 and np.abs(e["audio"]).max() <= 1
    assert 0 <= e["label"] < 12


def test_cola_pairs_are_two_crops_at_the_clips_own_level():
  config = tiny.get_config()
  config.mixing.enabled = False  # The crops themselves (mixing: below).
  # Clip k is the ramp k + i / n: a crop's samples tell where it was cut.
  n = 32000
  bank = data_sources.ClipBank(
      [(k + np.arange(n) / n).astype(np.float32) for k in range(4)],
      np.zeros([4], np.int64), [f"ramp{k}" for k in range(4)], ["ramp"])
  ds = cola_data.pair_dataset(bank, config, batch_size=4)
  anchors, positives = (x.numpy().astype(np.float64) for x in next(iter(ds)))
  assert anchors.shape == (4, 16000) and positives.shape == (4, 16000)
  for anchor, positive in zip(anchors, positives):
    # Both are contiguous 1 s slices of the same clip, unscaled (the model
    # levels each window: common/models/frontend.py), and rarely the same slice.
    for crop in (anchor, positive):
      np.testing.assert_allclose(np.diff(crop), 1 / n, atol=1e-6)
    assert np.floor(anchor[0]) == np.floor(positive[0])
  assert not np.allclose(anchors, positives)


def test_positives_noise_is_added_by_the_model_batched():
  from cola import model as cola_model
  config = tiny.get_config()
  silence = tf.zeros([64, 16000])
  noisy = cola_model.Cola(config).add_noise(silence).numpy()
  assert abs(noisy.std() - config.noise_stddev) < 0.01 * config.noise_stddev
  assert abs(noisy.mean()) < 1e-5
  config.noise_stddev = 0.0
  np.testing.assert_array_equal(cola_model.Cola(config).add_noise(silence),
                                silence)


def test_short_clips_are_centred_and_zero_padded():
  from common.data import waveform_ops
  x = tf.ones([100])
  crop = waveform_ops.random_crop(x, 400).numpy()
  np.testing.assert_array_equal(crop[:150], 0)
  np.testing.assert_array_equal(crop[150:250], 1)
  np.testing.assert_array_equal(crop[250:], 0)


def test_anchor_is_a_window_of_its_clip():
  config = tiny.get_config()
  config.mixing.enabled = False
  bank = data_sources.load("synthetic:8")
  anchors, positives = next(iter(cola_data.pair_dataset(
      bank, config, batch_size=8, shuffle=False)))
  for clip, anchor in zip(bank.waveforms, anchors.numpy()):
    windows = np.lib.stride_tricks.sliding_window_view(clip, 16000)
    assert np.abs(windows - anchor).max(axis=1).min() < 1e-6


def test_mixed_pairs_carry_another_crop_of_the_batch():
  config = tiny.get_config()
  assert config.mixing.enabled and config.mixing.partners == "independent"
  # Ramps again: a crop mixed with a level-matched share r of another ramp
  # is still a ramp, but its slope is no longer 1 / n.
  n = 32000
  bank = data_sources.ClipBank(
      [(k + 1 + np.arange(n) / n).astype(np.float32) for k in range(8)],
      np.zeros([8], np.int64), [f"ramp{k}" for k in range(8)], ["ramp"])
  anchors, positives = (x.numpy().astype(np.float64) for x in next(iter(
      cola_data.pair_dataset(bank, config, batch_size=8, shuffle=False))))
  slopes = np.array([np.diff(c).mean() * n for c in (*anchors, *positives)])
  # Shares are uniform in [0, 0.4]: nearly all crops are visibly mixed.
  assert np.mean(np.abs(slopes - 1) > 1e-4) > 0.5, slopes
  # Each stays dominated by its own clip: nearer its level than any other.
  for crops in (anchors, positives):
    np.testing.assert_array_equal(np.rint(crops.mean(1) - 0.5),
                                  np.arange(1, 9))
  assert not np.allclose(anchors, positives)
