"""Inputs whose headers claim what no memory holds: a WAV that says 1 Hz
(16,000x resampling), a file longer than the documented limit, a shard
frame far larger than the folder's frame size, a damaged shard record.
Each is skipped and counted, or stops the run with one line naming it;
memory is bounded by audio_io.MAX_SECONDS / media_lib.MAX_FRAME_PIXELS, never
by a header."""

import os
import struct

import numpy as np
import pytest
import soundfile
import tensorflow as tf

from common.data import data_sources
from common.data import tfrecord_source
from common.io import audio_io
from common.io import media as media_lib
from multimodal import prepare
from tests import processes


def wav_claiming(path, rate, samples=100_000):
  """A 16-bit mono WAV whose header says `rate` Hz (200 KB of samples)."""
  data = (np.random.default_rng(0).standard_normal(samples) * 1000).astype(
      "<i2").tobytes()
  fmt = struct.pack("<HHIIHH", 1, 1, rate, 2 * rate, 2, 16)
  with open(path, "wb") as f:
    f.write(b"RIFF" + struct.pack("<I", 36 + len(data)) + b"WAVE" +
            b"fmt " + struct.pack("<I", 16) + fmt + b"data" +
            struct.pack("<I", len(data)) + data)


@pytest.fixture
def corpus(tmp_path):
  root = tmp_path / "corpus"
  root.mkdir()
  wav_claiming(root / "one_hertz.wav", 1)
  soundfile.write(root / "good.wav", np.zeros(32000, np.float32), 16000)
  return root


def test_a_one_hertz_header_is_skipped_by_files_sources(corpus):
  bank = data_sources.files_bank(str(corpus), progress=False)
  assert bank.skipped.counts == {audio_io.BAD_SAMPLE_RATE: 1}
  assert len(bank) == 1


def test_a_one_hertz_header_is_skipped_by_prepare(corpus, tmp_path):
  summary = prepare.prepare(str(corpus), str(tmp_path / "out"),
                            media_lib.ClipSettings(clip_seconds=1.0, fps=0),
                            progress=False)
  assert summary["skipped_by_reason"] == {audio_io.BAD_SAMPLE_RATE: 1}
  assert summary["inputs_used"] == 1


def test_a_file_longer_than_the_limit_is_too_long(tmp_path):
  path = tmp_path / "long.wav"
  soundfile.write(path, np.zeros(3 * 16000, np.float32), 16000)
  with pytest.raises(audio_io.AudioError) as error:
    audio_io.read_audio(path, max_seconds=1.0)
  assert error.value.reason == audio_io.TOO_LONG


def prepared_audio(tmp_path, count=4):
  media = tmp_path / "media"
  media.mkdir()
  rng = np.random.default_rng(1)
  for i in range(count):
    soundfile.write(media / f"a{i}.wav",
                    0.1 * rng.standard_normal(32000).astype(np.float32), 16000)
  output = tmp_path / "prepared"
  prepare.prepare(str(media), str(output), media_lib.ClipSettings(
      clip_seconds=1.0, fps=0), num_shards=2, progress=False)
  return output


def test_a_frame_larger_than_the_folder_says_stops_before_decoding(tmp_path):
  output = tmp_path / "prepared"
  output.mkdir()
  settings = {"sample_rate": 16000, "resolution": 8, "fps": 1.0}
  with open(output / tfrecord_source.SPEC_FILE, "w") as f:
    import json
    json.dump(tfrecord_source.spec_json(settings), f)
  big = tf.io.encode_jpeg(tf.zeros([4000, 4000, 3], tf.uint8)).numpy()
  with tf.io.TFRecordWriter(str(output / tfrecord_source.shard_name(0, 1))
                            ) as writer:
    writer.write(tfrecord_source.encode_example(
        "bomb.mp4#0", np.zeros(16000, np.float32), 16000, [big], 1.0,
        frame_size=4000))  # The record's own claim: not believed.
  source = tfrecord_source.TfrecordSource(str(output), with_frames=True)
  with pytest.raises(tf.errors.InvalidArgumentError,
                     match="damaged shard.*bomb.mp4#0"):
    for _ in source.dataset():
      pass


def test_a_damaged_shard_record_stops_training_naming_the_shard(
    tmp_path, child_env):
  output = prepared_audio(tmp_path)
  shard = max(tfrecord_source.list_shards(str(output)), key=os.path.getsize)
  with open(shard, "r+b") as f:
    f.seek(os.path.getsize(shard) // 2)
    byte = f.read(1)
    f.seek(-1, os.SEEK_CUR)
    f.write(bytes([byte[0] ^ 0xFF]))
  result = processes.run(processes.train_command(
      "cola", tmp_path / "run", f"--data=tfrecord:{output}",
      "--config.batch_size=2", "--config.shuffle_buffer=4"), child_env)
  line = processes.error_line(result)
  assert "damaged shards" in line and shard in line
  assert "corrupted record" in line
  assert "run multimodal.prepare again" in line
