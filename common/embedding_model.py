"""Opening an exported embedding model by path, for the tools that use one.

`--model` in evaluate, embed, HEAR and TFLite is either a SavedModel that
follows common/export.py's contract or a training workdir (it has
config.json). A workdir's `saved_model/` is used, and is exported from the
last checkpoint first when it is missing or older than that checkpoint (a
run killed before its final export).

The tools embed audio window by window: `frames` cuts the windows the
contract defines (so a clip embedding is the mean of window embeddings,
exactly as serving_default computes it), and `EmbeddingModel.embed_windows`
embeds them in bounded batches, which is what keeps hours of audio in
bounded memory. `load` also opens a .tflite file (TfliteEmbeddingModel),
the faster path on CPUs.
"""

import os

from absl import logging
import numpy as np
import tensorflow as tf

from common import filesystem

CHECKPOINT_INDEX = os.path.join("checkpoints", "checkpoint.json")


def is_saved_model(path):
  return filesystem.exists(filesystem.join(path, "saved_model.pb"))


def is_workdir(path):
  return filesystem.exists(filesystem.join(path, "config.json"))


def resolve(path):
  """SavedModel directory for `path` (a SavedModel or a workdir)."""
  path = os.fspath(path)
  if is_saved_model(path):
    return path
  if not is_workdir(path):
    raise FileNotFoundError(
        f"{path}: neither a SavedModel (saved_model.pb) nor a training "
        "workdir (config.json)")
  saved = filesystem.join(path, "saved_model")
  index = filesystem.join(path, CHECKPOINT_INDEX)
  pb = filesystem.join(saved, "saved_model.pb")
  stale = not filesystem.exists(pb) or (
      filesystem.exists(index) and
      filesystem.mtime(index) > filesystem.mtime(pb))
  if stale:
    from common import export  # Needs the training code; only then.
    logging.info("%s: exporting the last checkpoint to %s", path, saved)
    export.export_workdir(path)
  return saved


def frames(waveform, window, hop):
  """[samples] -> ([windows, window] view, centres in samples).

  The contract's windows: starts every `hop`, never past the end; a clip
  shorter than one window is zero-padded, centred, to one window.
  """
  waveform = np.asarray(waveform, np.float32)
  samples = waveform.shape[0]
  if samples < window:
    missing = window - samples
    padded = np.pad(waveform, (missing // 2, missing - missing // 2))
    return padded[np.newaxis], np.array([samples / 2.0])
  view = np.lib.stride_tricks.sliding_window_view(waveform, window)[::hop]
  return view, np.arange(view.shape[0]) * hop + window / 2.0


class _WindowedModel:
  """What the tools use: window geometry as ints, `embed_windows`."""

  def embed_clip(self, waveform):
    """[samples] -> (clip embedding [D], window embeddings [T, D], centres
    in ms [T]); the clip embedding equals serving_default's."""
    view, centres = frames(waveform, self.window_samples, self.hop_samples)
    windows = self.embed_windows(view)
    return (windows.mean(axis=0), windows,
            (centres * 1000.0 / self.sample_rate).astype(np.float32))


class EmbeddingModel(_WindowedModel):
  """A loaded embedding SavedModel and its window geometry as ints."""

  def __init__(self, path, batch_windows=256):
    self.path = resolve(path)
    self.module = tf.saved_model.load(self.path)
    self.sample_rate = int(self.module.sample_rate.numpy())
    self.window_samples = int(self.module.window_samples.numpy())
    self.hop_samples = int(self.module.hop_samples.numpy())
    self.embedding_size = int(self.module.embedding_size.numpy())
    self.batch_windows = batch_windows
    self._serve = self.module.signatures["serving_default"]

  def embed_windows(self, windows):
    """[n, window_samples] -> float32 [n, D], `batch_windows` at a time."""
    windows = np.asarray(windows)
    out = np.zeros([windows.shape[0], self.embedding_size], np.float32)
    for i in range(0, windows.shape[0], self.batch_windows):
      batch = np.ascontiguousarray(windows[i:i + self.batch_windows],
                                   np.float32)
      out[i:i + len(batch)] = self._serve(
          waveform=tf.constant(batch))["embedding"].numpy()
    return out


class TfliteEmbeddingModel(_WindowedModel):
  """A TFLite model from common.tflite.convert (hop = window), 16 kHz as the
  contract says; its windows go through parallel one-thread interpreters
  (common.tflite.WindowEmbedder: 1.5x TensorFlow on a 2-core CPU)."""

  sample_rate = 16000

  def __init__(self, path, workers=None):
    from common import tflite  # Only this path needs the TFLite helpers.
    self.path = os.fspath(path)
    self._embedder = tflite.WindowEmbedder(self.path, workers)
    self.window_samples = self.hop_samples = self._embedder.window
    self.embedding_size = self._embedder.embedding_size

  def embed_windows(self, windows):
    return self._embedder.embed(np.asarray(windows, np.float32))


def load(path, batch_windows=256):
  """EmbeddingModel for a SavedModel or workdir, TfliteEmbeddingModel for a
  .tflite file."""
  if os.fspath(path).endswith(".tflite") and filesystem.exists(path) and (
      not filesystem.isdir(path)):
    return TfliteEmbeddingModel(path)
  return EmbeddingModel(path, batch_windows)
