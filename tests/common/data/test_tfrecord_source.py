"""common/data/tfrecord_source.py: Example round trips, and the tfrecord:
source over small shards written here (the Beam writer is tested in
test_prepare.py): what it yields, file-level sharding, and COLA on top."""

import json
import os

import numpy as np
import pytest
import tensorflow as tf

from common.data import data_sources
from common.data import tfrecord_source

RATE = 16000
SIZE = 16


def smooth_frames(count, seed):
  """Gradients JPEG keeps well (noise would not survive quality 90)."""
  ramp = np.linspace(0, 255, SIZE)
  base = (ramp[None, :, None] + ramp[:, None, None]) / 2
  shift = np.arange(count)[:, None, None, None] * 7 + seed
  frames = np.broadcast_to(base + shift, (count, SIZE, SIZE, 3)).copy()
  frames[..., 1] = 255 - frames[..., 1]
  return np.clip(frames, 0, 255).astype(np.uint8)


def clip_audio(seed, samples=RATE // 2):
  rng = np.random.default_rng(seed)
  return (0.3 * rng.standard_normal(samples)).clip(-1, 1).astype(np.float32)


def encode(index, frames=3, labels=()):
  return tfrecord_source.encode_example(
      f"/data/v{index}.mp4#0", clip_audio(index), RATE,
      smooth_frames(frames, index) if frames else None,
      frame_rate=4.0 if frames else 0.0, source=f"/data/v{index}.mp4",
      labels=labels, label_text=[f"l{l}" for l in labels], frame_size=SIZE)


def write_shards(folder, num_shards, per_shard, skipped=()):
  """Shards of clips numbered shard * per_shard + i, plus the JSON files."""
  os.makedirs(folder, exist_ok=True)
  for shard in range(num_shards):
    name = tfrecord_source.shard_name(shard, num_shards)
    with tf.io.TFRecordWriter(os.path.join(folder, name)) as writer:
      for i in range(per_shard):
        index = shard * per_shard + i
        writer.write(encode(index, frames=index % 3, labels=[index % 2]))
  spec = tfrecord_source.spec_json(
      {"sample_rate": RATE, "resolution": SIZE, "fps": 4.0}, ["l0", "l1"])
  with open(os.path.join(folder, tfrecord_source.SPEC_FILE), "w") as f:
    json.dump(spec, f)
  with open(os.path.join(folder, tfrecord_source.SUMMARY_FILE), "w") as f:
    json.dump({"skipped": [{"path": p, "reason": r, "detail": ""}
                           for p, r in skipped]}, f)


def clip_ids(dataset):
  return [x["clip_id"].numpy().decode() for x in dataset]


def test_example_round_trip():
  audio = clip_audio(1)
  frames = smooth_frames(3, 1)
  serialized = tfrecord_source.encode_example(
      "a.mp4#2", audio, RATE, frames, 4.0, source="a.mp4", clip_index=2,
      start_seconds=2.0, labels=[5, 3], label_text=["x", "y"])
  x = tfrecord_source.decode_example(tf.constant(serialized),
                                     with_frames=True, with_clip_id=True)
  assert x["audio"].dtype == tf.float32 and x["label"].dtype == tf.int64
  # int16 PCM: half a step of 1/32768 from the float source, one step at
  # +1.0 (which becomes 32767).
  error = np.abs(x["audio"].numpy() - audio)
  assert error[audio < 1].max() <= 0.5 / 32768
  assert error.max() <= 1 / 32768
  assert x["label"].numpy() == 5
  assert x["clip_id"].numpy() == b"a.mp4#2"
  assert x["frames"].shape == (3, SIZE, SIZE, 3)
  assert x["frames"].dtype == tf.uint8
  error = np.abs(x["frames"].numpy().astype(int) - frames.astype(int))
  assert error.mean() < 3, error.mean()  # JPEG at quality 90.
  parsed = tf.io.parse_single_example(serialized, tfrecord_source.FEATURES)
  assert parsed["sample_rate"].numpy() == RATE
  assert parsed["frame_size"].numpy() == SIZE
  assert list(parsed["label_text"].numpy()) == [b"x", b"y"]


def test_audio_only_examples_have_zero_frames_and_no_label():
  serialized = tfrecord_source.encode_example(
      "a.flac#0", clip_audio(2), RATE, None, frame_size=SIZE)
  x = tfrecord_source.decode_example(tf.constant(serialized), True)
  assert x["frames"].shape == (0, SIZE, SIZE, 3)
  assert x["label"].numpy() == -1


def test_pcm_clips_out_of_range_samples():
  pcm = np.frombuffer(tfrecord_source.to_pcm16([-1.5, -1.0, 0.0, 0.99999,
                                                1.0, 2.0]), "<i2")
  assert list(pcm) == [-32768, -32768, 0, 32767, 32767, 32767]


def test_spec_json_describes_every_feature():
  spec = tfrecord_source.spec_json({"fps": 4.0}, ["a"])
  assert set(spec["features"]) == set(tfrecord_source.FEATURES)
  assert spec["features"]["audio"]["dtype"] == "string"
  json.dumps(spec)


def test_load_tfrecord_yields_what_other_sources_yield(tmp_path):
  write_shards(tmp_path, 2, 3, skipped=[("/data/bad.mp4", "truncated")])
  source = data_sources.load(f"tfrecord:{tmp_path}")
  assert isinstance(source, tfrecord_source.TfrecordSource)
  assert source.num_classes == 2 and source.sample_rate == RATE
  assert source.skipped.counts == {"truncated": 1}
  ds = source.dataset()
  assert set(ds.element_spec) == {"audio", "label"}
  assert ds.element_spec["audio"].dtype == tf.float32
  assert ds.element_spec["label"].dtype == tf.int64
  examples = list(ds)
  assert len(examples) == 6
  assert sorted(int(x["label"]) for x in examples) == [0, 0, 0, 1, 1, 1]
  framed = list(source.dataset(with_frames=True))
  assert framed[0]["frames"].shape[1:] == (SIZE, SIZE, 3)
  assert sorted(x["frames"].shape[0] for x in framed) == [0, 0, 1, 1, 2, 2]
  # A glob works too.
  glob = data_sources.load(f"tfrecord:{tmp_path}/clips-0000[1]-*.tfrecord")
  assert len(glob.files) == 1


def test_input_context_shards_by_file(tmp_path):
  write_shards(tmp_path, 6, 2)
  source = tfrecord_source.TfrecordSource(str(tmp_path), shuffle_files=False)
  everything = clip_ids(source.dataset(with_clip_id=True))
  assert len(everything) == 12
  seen = []
  for pipeline in range(3):
    context = tf.distribute.InputContext(3, pipeline, 1)
    ds = source.dataset(context, with_clip_id=True)
    policy = ds.options().experimental_distribute.auto_shard_policy
    assert policy == tf.data.experimental.AutoShardPolicy.OFF
    ids = clip_ids(ds)
    # Whole files: pipeline p reads shards p and p + 3.
    shards = {(int(i.split("/v")[1].split(".")[0]) // 2) for i in ids}
    assert shards == {pipeline, pipeline + 3}
    seen += ids
  assert sorted(seen) == sorted(everything)


def test_without_context_asks_tf_data_for_file_sharding(tmp_path):
  write_shards(tmp_path, 2, 1)
  ds = tfrecord_source.TfrecordSource(str(tmp_path)).dataset()
  policy = ds.options().experimental_distribute.auto_shard_policy
  assert policy == tf.data.experimental.AutoShardPolicy.FILE


def test_distribute_datasets_from_function(tmp_path):
  write_shards(tmp_path, 2, 2)
  source = tfrecord_source.TfrecordSource(str(tmp_path))
  devices = [d.name for d in tf.config.list_logical_devices("CPU")]
  strategy = tf.distribute.MirroredStrategy(devices)

  def dataset_fn(context):
    ds = source.dataset(context, with_frames=True)
    ds = ds.map(lambda x: (x["audio"][:1000], x["frames"][:0]))
    return ds.batch(context.get_per_replica_batch_size(len(devices)))

  batches = strategy.distribute_datasets_from_function(dataset_fn)
  first = next(iter(batches))
  audio = strategy.experimental_local_results(first[0])
  assert sum(a.shape[0] for a in audio) == len(devices)


def test_too_few_shards_for_pipelines_is_an_error(tmp_path):
  write_shards(tmp_path, 1, 1)
  source = tfrecord_source.TfrecordSource(str(tmp_path))
  with pytest.raises(ValueError, match="1 shards cannot be split"):
    source.dataset(tf.distribute.InputContext(2, 0, 1))


def test_no_shards_is_no_usable_data(tmp_path):
  with pytest.raises(data_sources.NoUsableData, match="no shard files"):
    data_sources.load(f"tfrecord:{tmp_path}/*.tfrecord")


def test_cola_pairs_from_tfrecord(tmp_path):
  from cola import data as cola_data
  from cola.configs import tiny
  write_shards(tmp_path, 2, 3)
  config = tiny.get_config()
  source = data_sources.load(f"tfrecord:{tmp_path}")
  anchors, positives = next(iter(cola_data.pair_dataset(source, config, 4)))
  crop = int(config.crop_seconds * config.sample_rate)
  assert anchors.shape == (4, crop) and positives.shape == (4, crop)
