"""The HEAR API (hearbenchmark.com/hear-api) over an exported SavedModel.

  from common.eval import hear
  model = hear.load_model("runs/cola")          # a SavedModel or a workdir
  scene = hear.get_scene_embeddings(audio, model)          # [n, D]
  emb, ts = hear.get_timestamp_embeddings(audio, model)    # [n, T, D], [n, T]

`audio` is float32 [n, samples] at `model.sample_rate` (16 kHz), in [-1, 1]
(a NumPy array, a tf.Tensor or a CPU torch.Tensor); int16 PCM is scaled
to [-1, 1], other integer types are refused.

Scene embeddings are the SavedModel's clip embeddings (serving_default: the
mean over the contract's non-overlapping windows). Timestamp embeddings
are the encoder's embedding of one window centred on each timestamp:
timestamps are 0, hop, 2 hop, ... ms up to the clip's duration (never past
it), every `hop_ms` (50 ms by default, the HEAR maximum), with the audio
zero-padded by half a window at both ends so that every window is centred
on its timestamp. Windows are embedded `batch_windows` at a time and sliced
from a view of the clip, so a 10 minute clip (12,001 windows) needs memory
for one batch of windows, not for all of them.
"""

from typing import Tuple

import numpy as np
import tensorflow as tf

from common.serve import loader
from common.train import runs


class HearModel(tf.Module):
  """What load_model returns: a tf.Module, as the HEAR API asks."""

  def __init__(self, model, hop_ms=50.0):
    super().__init__(name="hear_model")
    self.embedder = model
    self.saved_model = model.module  # Tracked, so its variables show.
    self.sample_rate = model.sample_rate
    self.scene_embedding_size = model.embedding_size
    self.timestamp_embedding_size = model.embedding_size
    self.hop_samples = int(round(hop_ms * model.sample_rate / 1000.0))
    if not 0 < self.hop_samples <= model.sample_rate // 20:
      raise ValueError(f"hop_ms={hop_ms}: HEAR needs 0 < hop <= 50 ms")


def load_model(model_file_path: str = "", hop_ms: float = 50.0,
               batch_windows: int = 256) -> HearModel:
  """The HEAR API's model loader.

  Args:
    model_file_path: a SavedModel directory or a training workdir (its
      SavedModel, exported first when older than its last checkpoint).
    hop_ms: the step of the timestamp embeddings (at most 50 ms).
    batch_windows: windows per SavedModel call (bounds the memory).

  Returns:
    A HearModel: a tf.Module with sample_rate, scene_embedding_size and
    timestamp_embedding_size.

  Raises:
    ValueError: no path, or a hop HEAR does not allow.
    FileNotFoundError: the path is neither a SavedModel nor a workdir.
  """
  if not model_file_path:
    raise ValueError("load_model needs a SavedModel directory or a "
                     "training workdir (there is no default model)")
  return HearModel(loader.EmbeddingModel(
      runs.saved_model_of(model_file_path), batch_windows=batch_windows),
                   hop_ms)


def _as_array(audio):
  """[n, samples] float32 in [-1, 1]. int16 PCM (what many loaders give)
  is scaled by 1/32768; other integer types are refused, since their
  scale is unknown (used as they are, they would be 32768 times too
  loud for the model)."""
  if hasattr(audio, "numpy") and not isinstance(audio, np.ndarray):
    audio = audio.numpy()  # tf.Tensor, torch.Tensor (CPU).
  audio = np.asarray(audio)
  if audio.dtype == np.int16:
    audio = audio.astype(np.float32) / 32768.0
  elif not np.issubdtype(audio.dtype, np.floating):
    raise ValueError(f"audio of dtype {audio.dtype}: expected float in "
                     "[-1, 1] (or int16 PCM, which is scaled by 1/32768)")
  audio = audio.astype(np.float32, copy=False)
  if audio.ndim != 2:
    raise ValueError(f"audio must be [n_sounds, n_samples], got {audio.shape}")
  return audio


def get_scene_embeddings(audio, model: HearModel) -> tf.Tensor:
  """The HEAR API's scene embeddings.

  Args:
    audio: float32 [n, samples] in [-1, 1] at model.sample_rate (int16
      PCM is scaled by 1/32768).
    model: load_model's HearModel.

  Returns:
    tf.Tensor float32 [n, scene_embedding_size].

  Raises:
    ValueError: not [n, samples], or not float/int16 audio.
  """
  audio = _as_array(audio)
  out = np.zeros([len(audio), model.scene_embedding_size], np.float32)
  for i, clip in enumerate(audio):  # No sounds: [0, D], as for timestamps.
    out[i] = model.embedder.embed_clip(clip)[0]
  return tf.constant(out)


def timestamps_ms(num_samples, model):
  """The timestamps (ms) of a clip of `num_samples`: k hop <= duration."""
  count = num_samples // model.hop_samples + 1
  return (np.arange(count) * model.hop_samples * 1000.0 /
          model.sample_rate).astype(np.float32)


def get_timestamp_embeddings(audio, model: HearModel
                             ) -> Tuple[tf.Tensor, tf.Tensor]:
  """The HEAR API's timestamp embeddings.

  Args:
    audio: float32 [n, samples] in [-1, 1] at model.sample_rate (int16
      PCM is scaled by 1/32768).
    model: load_model's HearModel.

  Returns:
    (embeddings float32 [n, T, timestamp_embedding_size], timestamps in
    ms float32 [n, T]): one window centred on each timestamp, every hop.

  Raises:
    ValueError: not [n, samples], or not float/int16 audio.
  """
  audio = _as_array(audio)
  window = model.embedder.window_samples
  stamps = timestamps_ms(audio.shape[1], model)
  out = np.zeros([len(audio), len(stamps), model.timestamp_embedding_size],
                 np.float32)
  half = window // 2
  for i, clip in enumerate(audio):
    padded = np.pad(clip, (half, window - half))
    view = np.lib.stride_tricks.sliding_window_view(padded, window)
    out[i] = model.embedder.embed_windows(
        view[::model.hop_samples][:len(stamps)])
  return (tf.constant(out), tf.constant(np.tile(stamps, [len(audio), 1])))
