"""The multimodal input pipeline: aligned crops of sound and picture.

Each training example is a `crop_seconds` window of a clip's waveform and
the frames covering the same span, sampled at `fps` and `resolution` px:
  {"audio": float32 [crop samples], "frames": uint8 [F, R, R, 3],
   "has_video": float32 (0 for audio-only clips, whose frames are zeros)}
The crop starts on a frame of the source, so picture and sound line up to
the sample. Audio stays at the clip's own level: the model's frontend
levels every window (common/models/frontend.py), as the exported model does.
Batches are then mixed (common/data/mixing.py) when the config asks.

Sources, by `--data`:
  synthetic[:N]     the embedded default: N (512) procedurally generated
                    clips (common/data/synthetic.py) with frames drawn from what
                    is heard; the same audio as COLA's synthetic source
  tfrecord:GLOB     shards written by `multimodal.prepare` (frames resized
                    and resampled in time to the config's resolution / fps)
  files:DIR_OR_GLOB media files decoded with PyAV into memory (small
                    corpora), cut into `source_clip_seconds` clips
Audio-only clips are kept: they count in the waveform <-> log-mel loss and
are masked out of the pairs with video (`has_video`).
"""

import dataclasses
import glob
import os

from absl import logging
import numpy as np
import tensorflow as tf
import tqdm

from common.data import data_sources
from common.data import mixing
from common.data import synthetic
from common.data import tfrecord_source
from common.data import waveform_ops
from common.io import media

def crop_samples(config):
  return waveform_ops.seconds_to_samples(config.crop_seconds,
                                         config.sample_rate)


MEL_CROPS = ("aligned", "independent")
# What av_dataset's batches hold that mixing can mix (mel_audio only with
# mel_crop="independent").
MIXABLE = ("audio", "mel_audio", "frames")


def mel_crop(config):
  """Where the log-mel side's window comes from: "aligned" (the waveform's
  window, the frames' span) or "independent" (its own random window of the
  same clip, as COLA's positive)."""
  choice = config.get("mel_crop", "aligned")
  if choice not in MEL_CROPS:
    raise ValueError(f"mel_crop={choice!r}: expected one of "
                     f"{', '.join(MEL_CROPS)}")
  return choice


def crop_frames(config):
  return waveform_ops.seconds_to_samples(config.crop_seconds, config.fps)


@dataclasses.dataclass
class AvBank:
  """Decoded clips (waveform + frames at `fps`) held in memory."""
  audio: list
  frames: list
  fps: float
  resolution: int
  labels: np.ndarray
  skipped: data_sources.SkipReport = dataclasses.field(
      default_factory=data_sources.SkipReport)

  def __len__(self):
    return len(self.audio)

  def dataset(self):
    """{"audio": float32 [samples], "frames": uint8 [T, R, R, 3]}."""
    def ragged(arrays, dtype):
      lengths = np.array([len(a) for a in arrays], np.int64)
      return tf.RaggedTensor.from_row_lengths(
          np.concatenate(arrays).astype(dtype), lengths)

    return tf.data.Dataset.from_tensor_slices({
        "audio": ragged(self.audio, np.float32),
        "frames": ragged(self.frames, np.uint8),
        "label": self.labels.astype(np.int64)})


def synthetic_av_bank(num_clips=512, split="train", fps=8.0, resolution=32,
                      seconds=2.0):
  """The embedded default with pictures: COLA's synthetic clips, drawn."""
  seed = {"train": 0, "validation": 1, "test": 2}.get(split, 3)
  clips = synthetic.make_clips(num_clips, seed=seed, seconds=seconds)
  frames = [synthetic.render_frames(clip, fps, resolution, seed=(seed, i))
            for i, clip in enumerate(clips)]
  return AvBank([c.audio for c in clips], frames, fps, resolution,
                np.array([c.label for c in clips], np.int64))


def _media_files(pattern):
  if os.path.isdir(pattern):
    found = []
    for root, dirs, files in os.walk(pattern):
      dirs.sort()
      found.extend(os.path.join(root, f) for f in sorted(files)
                   if f.lower().endswith(media.MEDIA_EXTENSIONS))
    return found
  return sorted(glob.glob(pattern, recursive=True))


def files_av_bank(pattern, config, progress=True):
  """Decodes every media file of a files: spec into clips in memory."""
  paths = _media_files(pattern)
  if not paths:
    raise data_sources.NoUsableData(f"files:{pattern}: no media files found")
  settings = media.ClipSettings(
      sample_rate=config.sample_rate,
      clip_seconds=config.source_clip_seconds, fps=config.fps,
      resolution=config.resolution,
      min_clip_fraction=min(1.0, config.crop_seconds /
                            config.source_clip_seconds))
  bank = AvBank([], [], config.fps, config.resolution, np.zeros([0]))
  for path in tqdm.tqdm(paths, desc="decoding media", disable=not progress,
                        unit="file"):
    try:
      clips = media.read_clips(path, settings)
    except media.MediaError as e:
      bank.skipped.add(e)
      logging.warning("skipped %s", e)
      continue
    for clip in clips:
      bank.audio.append(clip.audio)
      bank.frames.append(clip.frames)
  bank.labels = np.full([len(bank.audio)], -1, np.int64)
  with_video = sum(len(f) > 0 for f in bank.frames)
  logging.info("files:%s: %d clips (%d with video) from %d files; %s",
               pattern, len(bank), with_video, len(paths),
               bank.skipped.summary())
  if not bank.audio:
    raise data_sources.NoUsableData(
        f"files:{pattern}: no usable media among {len(paths)} files; "
        f"{bank.skipped.summary()}")
  return bank


def load(spec, config, split="train"):
  """The source a `--data` value names; returns (source, its fps)."""
  kind, rest = data_sources.parse_spec(spec)
  if kind == "synthetic":
    return synthetic_av_bank(int(rest) if rest else 512, split, config.fps,
                             config.resolution), config.fps
  if kind == "files":
    return files_av_bank(rest, config), config.fps
  if kind == "tfrecord":
    source = tfrecord_source.TfrecordSource(
        rest, with_frames=True, min_samples=1, seed=config.seed)
    return source, float(source.settings.get("fps") or 0)
  raise ValueError(f"--data={spec}: the multimodal trainer reads synthetic, "
                   "tfrecord: or files: sources (it needs video)")


def aligned_crop(audio, frames, source_fps, config, seed=None):
  """A random crop of sound and the frames of the same span.

  Returns (audio [crop samples], frames uint8 [F, R, R, 3], has_video).
  The start is a frame of the source; a clip shorter than the crop is
  zero-padded at the end (its last frame repeats). `seed`: a stateless
  seed (waveform_ops.element_seeds), or None for stateful draws.
  """
  frame_seed, sample_seed = (None, None) if seed is None else tf.unstack(
      tf.random.experimental.stateless_split(seed, 2))
  samples, count = crop_samples(config), crop_frames(config)
  size = config.resolution
  length = tf.shape(audio)[0]
  available = tf.shape(frames)[0]
  has_video = available > 0 if source_fps else tf.constant(False)
  rate = float(config.sample_rate)
  if source_fps:
    span = int(np.ceil(config.crop_seconds * source_fps - 1e-6))
    first = waveform_ops.random_integer(
        tf.maximum(available - span, 0) + 1, frame_seed)
    start = tf.cast(tf.round(tf.cast(first, tf.float32) * rate / source_fps),
                    tf.int32)
    random_start = waveform_ops.random_integer(
        tf.maximum(length - samples, 0) + 1, sample_seed)
    start = tf.where(has_video, tf.minimum(start, tf.maximum(
        length - samples, 0)), random_start)
  else:
    first = tf.constant(0)
    start = waveform_ops.random_integer(
        tf.maximum(length - samples, 0) + 1, sample_seed)
  window = audio[start:start + samples]
  window = tf.pad(window, [[0, samples - tf.shape(window)[0]]])
  window.set_shape([samples])

  def pick_frames():
    steps = np.floor(np.arange(count) * source_fps / config.fps + 1e-6)
    index = tf.minimum(first + tf.constant(steps, tf.int32), available - 1)
    picked = tf.gather(frames, index)
    if frames.shape[1] != size:
      picked = tf.image.resize(picked, [size, size], antialias=True)
      picked = tf.cast(tf.round(tf.clip_by_value(picked, 0, 255)), tf.uint8)
    return tf.ensure_shape(picked, [count, size, size, 3])

  def no_frames():
    return tf.zeros([count, size, size, 3], tf.uint8)

  picked = tf.cond(has_video, pick_frames, no_frames) if source_fps else (
      no_frames())
  return window, picked, tf.cast(has_video, tf.float32)


def av_dataset(source, source_fps, config, batch_size, shuffle=True,
               mix=True):
  """Infinite batches of aligned crops, mixed when `mix` and the config
  say so."""
  # Repeated, then shuffled: the shuffle draws its order once per iterator
  # (a shuffle inside the repeat reshuffles every epoch from a seed state
  # that every iterator of the dataset shares, so the training iterator's
  # order would depend on how far the `adapt` iterator had read ahead).
  ds = source.dataset().repeat()
  if shuffle:
    ds = ds.shuffle(config.shuffle_buffer, seed=config.seed)

  independent = mel_crop(config) == "independent"

  def crop(index, x):
    # Every draw from (seed, element index): the same in any process.
    crop_seed, mel_seed = waveform_ops.element_seeds(config.seed, index, 2)
    audio, frames, has_video = aligned_crop(
        x["audio"], x["frames"], source_fps, config, crop_seed)
    out = {"audio": audio, "frames": frames, "has_video": has_video}
    if independent:
      out["mel_audio"] = waveform_ops.random_crop(
          x["audio"], crop_samples(config), mel_seed)
    return out

  ds = ds.enumerate().map(crop, num_parallel_calls=tf.data.AUTOTUNE)
  ds = ds.batch(batch_size, drop_remainder=True)
  if mix and config.mixing.enabled:
    mixing.check_config(config.mixing, known=MIXABLE)
    ds = ds.enumerate().map(lambda i, b: mixing.mix_batch(
        b, config.mixing, has_content={"frames": b["has_video"] > 0},
        seed=waveform_ops.element_seeds(config.seed + 1, i, 1)[0]),
                            num_parallel_calls=tf.data.AUTOTUNE)
  return ds.prefetch(tf.data.AUTOTUNE)


def has_video(source, source_fps):
  """False when no clip of the source has frames (audio-only files or
  shards); streamed shards with a frame rate count as having video."""
  if not source_fps:
    return False
  frames = getattr(source, "frames", None)
  return frames is None or any(len(f) for f in frames)


VIDEO_PAIRS = ("wave_video", "mel_video")


def build_dataset(config, data_spec, batch_size):
  """The training batches; on a source without any video, the run trains
  the waveform <-> log-mel pair only: the video pairs' weights are set to
  0 in `config` (before the run records it in config.json), so no video
  encoder is built or run on empty frames."""
  source, source_fps = load(data_spec, config)
  weights = config.pair_weights
  if not has_video(source, source_fps) and any(
      weights.get(p, 0.0) for p in VIDEO_PAIRS):
    logging.warning("%s has no video: training the waveform <-> log-mel "
                    "pair only (pair_weights.%s set to 0)", data_spec,
                    " and .".join(VIDEO_PAIRS))
    for pair in VIDEO_PAIRS:
      weights[pair] = 0.0
  return av_dataset(source, source_fps, config, batch_size), source
