"""Prepared TFRecord clips: the feature spec, Example coding, and the
`--data=tfrecord:GLOB` source.

`multimodal.prepare` writes one `tf.train.Example` per clip with the
features in `FEATURES`; this module is the one place both the writer and the
readers take that layout from. A prepared folder holds:

  clips-SSSSS-of-NNNNN.tfrecord   the shards
  feature_spec.json               FEATURES described, plus the settings
                                  (sample rate, clip length, fps, resolution)
                                  and the label vocabulary
  summary.json                    clips written, inputs skipped with reasons

The source yields `{"audio": float32 [samples], "label": int64}` like every
other source (label: the first of the clip's labels, -1 when it has none),
plus `"frames": uint8 [T, H, W, 3]` when asked for video. Audio-only inputs
have T = 0; the last clip of an input may be shorter than the others.
Shards are split between input pipelines by file: explicitly under a
`tf.distribute.InputContext`, otherwise through tf.data's FILE auto-shard
policy when a strategy distributes the dataset.
"""

import os

from absl import logging
import numpy as np
import tensorflow as tf

from common.data import skips
from common.io import state_files

SHARD_SUFFIX = ".tfrecord"
SPEC_FILE = "feature_spec.json"
SUMMARY_FILE = "summary.json"
FORMAT = "ssl-audio-clips/1"
PCM_SCALE = 32768.0  # int16 PCM <-> float in [-1, 1)
FRAME_SIZE_ERROR = "damaged shard:"

FEATURES = {
    "clip_id": tf.io.FixedLenFeature([], tf.string),
    "source": tf.io.FixedLenFeature([], tf.string),
    "clip_index": tf.io.FixedLenFeature([], tf.int64),
    "start_seconds": tf.io.FixedLenFeature([], tf.float32),
    "audio": tf.io.FixedLenFeature([], tf.string),
    "sample_rate": tf.io.FixedLenFeature([], tf.int64),
    "frames": tf.io.RaggedFeature(tf.string),
    "frame_rate": tf.io.FixedLenFeature([], tf.float32),
    "frame_size": tf.io.FixedLenFeature([], tf.int64),
    "labels": tf.io.RaggedFeature(tf.int64),
    "label_text": tf.io.RaggedFeature(tf.string),
}

DESCRIPTIONS = {
    "clip_id": "'<source>#<clip_index>': unique, and what shards hash on",
    "source": "path or URL of the input the clip was cut from",
    "clip_index": "position of the clip in its input (0, 1, ...)",
    "start_seconds": "start of the clip in its input",
    "audio": "mono waveform, int16 little-endian PCM (divide by 32768)",
    "sample_rate": "audio samples per second",
    "frames": "JPEG images, one per frame, square RGB; empty for audio-only",
    "frame_rate": "frames per second (0 for audio-only inputs)",
    "frame_size": "side of the square frames in pixels",
    "labels": "indices into label_names (optional, may be empty)",
    "label_text": "the same labels as strings",
}


def _bytes(values):
  return tf.train.Feature(bytes_list=tf.train.BytesList(value=list(values)))


def _ints(values):
  return tf.train.Feature(int64_list=tf.train.Int64List(value=list(values)))


def _floats(values):
  return tf.train.Feature(float_list=tf.train.FloatList(value=list(values)))


def to_pcm16(audio):
  """float waveform in [-1, 1] -> int16 little-endian bytes."""
  scaled = np.round(np.asarray(audio, np.float64) * PCM_SCALE)
  return np.clip(scaled, -32768, 32767).astype("<i2").tobytes()


def encode_jpeg(frames, quality=90):
  """uint8 [T, H, W, 3] -> T JPEG byte strings."""
  return [tf.io.encode_jpeg(frame, quality=quality).numpy()
          for frame in frames]


def encode_example(clip_id, audio, sample_rate, frames=None, frame_rate=0.0,
                   source="", clip_index=0, start_seconds=0.0, labels=(),
                   label_text=(), frame_size=0, jpeg_quality=90):
  """One clip -> a serialized tf.train.Example in the FEATURES layout.

  `frames` is uint8 [T, H, W, 3] (JPEG-encoded here) or already a list of
  JPEG byte strings.
  """
  if frames is None:
    frames = []
  elif isinstance(frames, np.ndarray):
    if frames.size and not frame_size:
      frame_size = frames.shape[1]
    frames = encode_jpeg(frames, jpeg_quality)
  # A non-UTF-8 file name (str with surrogates) is stored as its bytes.
  feature = {
      "clip_id": _bytes([clip_id.encode("utf-8", "surrogateescape")]),
      "source": _bytes([source.encode("utf-8", "surrogateescape")]),
      "clip_index": _ints([clip_index]),
      "start_seconds": _floats([start_seconds]),
      "audio": _bytes([to_pcm16(audio)]),
      "sample_rate": _ints([sample_rate]),
      "frames": _bytes(frames),
      "frame_rate": _floats([frame_rate]),
      "frame_size": _ints([frame_size]),
      "labels": _ints(labels),
      "label_text": _bytes(t.encode() for t in label_text),
  }
  # Deterministic: map order otherwise varies between processes, and shards
  # rebuilt on another worker must come out byte for byte the same.
  return tf.train.Example(features=tf.train.Features(
      feature=feature)).SerializeToString(deterministic=True)


def decode_frames(jpegs, frame_size, clip_id=""):
  """[T] JPEG strings -> uint8 [T, S, S, 3] (T may be 0).

  Each JPEG's header is read before it is decoded: a frame that is not
  S x S stops the stream with an InvalidArgumentError naming the clip,
  instead of allocating whatever size the JPEG claims.
  """
  size = tf.cast(frame_size, tf.int32)

  def decode_one(jpeg):
    shape = tf.cast(tf.io.extract_jpeg_shape(jpeg), tf.int32)
    with tf.control_dependencies([tf.debugging.Assert(
        tf.reduce_all(shape[:2] == tf.stack([size, size])),
        [f"{FRAME_SIZE_ERROR} clip", clip_id, "has a frame of shape", shape,
         "where its frame_size is", size])]):
      return tf.io.decode_jpeg(jpeg, channels=3)

  def decode_all():
    return tf.map_fn(decode_one, jpegs,
                     fn_output_signature=tf.TensorSpec([None, None, 3],
                                                       tf.uint8))

  return tf.cond(tf.size(jpegs) > 0, decode_all,
                 lambda: tf.zeros([0, size, size, 3], tf.uint8))


def decode_example(serialized, with_frames=False, with_clip_id=False,
                   frame_size=None):
  """A serialized Example -> the source's element dict (graph-safe)."""
  parsed = tf.io.parse_single_example(serialized, FEATURES)
  pcm = tf.io.decode_raw(parsed["audio"], tf.int16, little_endian=True)
  labels = parsed["labels"]
  example = {
      "audio": tf.cast(pcm, tf.float32) / PCM_SCALE,
      "label": tf.cond(tf.size(labels) > 0, lambda: labels[0],
                       lambda: tf.constant(-1, tf.int64)),
  }
  if with_frames:
    # The folder's frame size where known: a record's own claim is not
    # what bounds the memory of its decode.
    frames = decode_frames(
        parsed["frames"], frame_size if frame_size else parsed["frame_size"],
        parsed["clip_id"])
    frames.set_shape([None, frame_size, frame_size, 3])
    example["frames"] = frames
  if with_clip_id:
    example["clip_id"] = parsed["clip_id"]
  return example


def spec_json(settings, label_names=()):
  """The feature_spec.json a prepared folder carries."""
  return {
      "format": FORMAT,
      "features": {
          name: {"kind": type(f).__name__, "dtype": f.dtype.name,
                 "description": DESCRIPTIONS[name]}
          for name, f in FEATURES.items()},
      "settings": dict(settings),
      "label_names": list(label_names),
  }


def shard_name(index, num_shards):
  return f"clips-{index:05d}-of-{num_shards:05d}{SHARD_SUFFIX}"


def find_damaged(files):
  """[(shard, the reader's error)] for shards whose records do not all
  read back (CRC mismatch, cut file): a full read of each."""
  damaged = []
  for path in files:
    try:
      for _ in tf.data.TFRecordDataset(path, buffer_size=1 << 22):
        pass
    except (tf.errors.DataLossError, tf.errors.OutOfRangeError,
            tf.errors.InvalidArgumentError) as e:
      damaged.append((path, e.message.strip().splitlines()[0]))
  return damaged


def list_shards(pattern):
  """A folder (its *.tfrecord files) or a glob -> sorted shard paths."""
  if tf.io.gfile.isdir(pattern):
    pattern = os.path.join(pattern, "*" + SHARD_SUFFIX)
  return sorted(tf.io.gfile.glob(pattern))


class TfrecordSource:
  """Clips from prepared shards, streamed with tf.data.

  Args:
    pattern: a prepared folder or a glob of shard files.
    with_frames: also yield "frames" (can be changed per `dataset()` call).
    shuffle_files: visit shards in a new random order each epoch, and read
      them non-deterministically (faster); False reads them in order.
    cycle_length: shards read in parallel (default: up to 16).
    min_samples: clips with fewer audio samples are left out of the stream.
  """

  def __init__(self, pattern, with_frames=False, shuffle_files=True,
               seed=None, cycle_length=None, min_samples=1):
    self.pattern = pattern
    self.files = list_shards(pattern)
    if not self.files:
      raise skips.NoUsableData(
          f"tfrecord:{pattern}: no shard files found")
    self.with_frames = with_frames
    self.shuffle_files = shuffle_files
    self.seed = seed
    self.cycle_length = cycle_length or min(16, len(self.files))
    self.min_samples = min_samples
    folder = os.path.dirname(self.files[0])
    spec = state_files.read_json(os.path.join(folder, SPEC_FILE)) or {}
    self.settings = spec.get("settings", {})
    self.label_names = list(spec.get("label_names", []))
    # What preparation skipped, so a training summary still reports it.
    self.skipped = skips.SkipReport()
    summary = state_files.read_json(os.path.join(folder, SUMMARY_FILE)) or {}
    for item in summary.get("skipped", []):
      self.skipped.files.append(
          (item["path"], item["reason"], item.get("detail", "")))
    logging.info("tfrecord:%s: %d shards; preparation %s", pattern,
                 len(self.files), self.skipped.summary())

  @property
  def num_classes(self):
    return len(self.label_names)

  def damaged_shards(self):
    """One line naming the shards that cannot be read whole (a training
    that hit a damaged record scans them), or None."""
    damaged = find_damaged(self.files)
    if not damaged:
      return None
    return ("damaged shards (skipping the rest of one would change what the "
            "run trains on): " + "; ".join(
                f"{path}: {why}" for path, why in damaged) +
            "; delete them and run multimodal.prepare again with the same "
            "--output to rewrite them, then resume")

  @property
  def sample_rate(self):
    return self.settings.get("sample_rate")

  def dataset(self, input_context=None, with_frames=None, with_clip_id=False):
    """The clips as a tf.data.Dataset (one pass over this pipeline's files).

    With an `input_context` (from `distribute_datasets_from_function`) this
    pipeline reads only its share of the files; without one, the dataset
    asks tf.data to shard by file when a strategy distributes it.
    """
    with_frames = self.with_frames if with_frames is None else with_frames
    files = tf.data.Dataset.from_tensor_slices(self.files)
    options = tf.data.Options()
    policy = tf.data.experimental.AutoShardPolicy
    if input_context is not None and input_context.num_input_pipelines > 1:
      count = input_context.num_input_pipelines
      if len(self.files) < count:
        raise ValueError(
            f"tfrecord:{self.pattern}: {len(self.files)} shards cannot be "
            f"split between {count} input pipelines; prepare more shards")
      files = files.shard(count, input_context.input_pipeline_id)
      options.experimental_distribute.auto_shard_policy = policy.OFF
    else:
      options.experimental_distribute.auto_shard_policy = policy.FILE
    if self.shuffle_files:
      files = files.shuffle(len(self.files), seed=self.seed,
                            reshuffle_each_iteration=True)
    records = files.interleave(
        tf.data.TFRecordDataset, cycle_length=self.cycle_length,
        num_parallel_calls=tf.data.AUTOTUNE,
        deterministic=not self.shuffle_files)
    frame_size = self.settings.get("resolution")
    ds = records.map(
        lambda x: decode_example(x, with_frames, with_clip_id, frame_size),
        num_parallel_calls=tf.data.AUTOTUNE,
        deterministic=not self.shuffle_files)
    if self.min_samples > 1:
      ds = ds.filter(lambda x: tf.size(x["audio"]) >= self.min_samples)
    return ds.with_options(options)
