"""Opening an exported embedding model by path, for the tools that use one.

A SavedModel that follows common/serve/export.py's contract, or a .tflite
file. (The commands also take a training workdir for `--model`: they open
its SavedModel through common.train.runs.saved_model_of, which exports
the last checkpoint first when saved_model/ is missing or older.)

The tools embed audio window by window: `frames` cuts the windows the
contract defines (so a clip embedding is the mean of window embeddings,
exactly as serving_default computes it), and `EmbeddingModel.embed_windows`
embeds them in bounded batches, which is what keeps hours of audio in
bounded memory. `load` also opens a .tflite file (TfliteEmbeddingModel),
the faster path on CPUs.
"""

import os

import numpy as np
import tensorflow as tf

from common.io import filesystem
from common.serve import tflite

SAVED_MODEL_FILE = "saved_model.pb"


def is_saved_model(path: str) -> bool:
  """Whether `path` is a SavedModel directory."""
  return filesystem.exists(filesystem.join(path, SAVED_MODEL_FILE))


def check_saved_model(path: str) -> str:
  """`path`, when it is a SavedModel; a training workdir is opened through
  common.train.runs.saved_model_of (the commands do).

  Raises:
    FileNotFoundError: `path` is not a SavedModel.
  """
  path = os.fspath(path)
  if not is_saved_model(path):
    hint = (" (a training workdir: open it with "
            "common.train.runs.saved_model_of)" if filesystem.exists(
                filesystem.join(path, "config.json")) else "")
    raise FileNotFoundError(f"{path}: not a SavedModel (no "
                            f"{SAVED_MODEL_FILE}){hint}")
  return path


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
    self.path = check_saved_model(path)
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
  """A TFLite model from common.serve.tflite.convert (hop = window), 16 kHz as the
  contract says; its windows go through parallel one-thread interpreters
  (common.serve.tflite.WindowEmbedder: 1.5x TensorFlow on a 2-core CPU)."""

  sample_rate = 16000

  def __init__(self, path, workers=None):
    self.path = os.fspath(path)
    self._embedder = tflite.WindowEmbedder(self.path, workers)
    self.window_samples = self.hop_samples = self._embedder.window
    self.embedding_size = self._embedder.embedding_size

  def embed_windows(self, windows):
    return self._embedder.embed(np.asarray(windows, np.float32))


def load(path: str, batch_windows: int = 256) -> _WindowedModel:
  """Opens an exported embedding model.

  Args:
    path: a SavedModel directory (common/serve/export.py's contract) or a
      .tflite file (common/serve/tflite.py's).
    batch_windows: windows per SavedModel call (bounds the memory).

  Returns:
    An EmbeddingModel or a TfliteEmbeddingModel: `embed_clip(waveform)`,
    `embed_windows(windows)` and the window geometry as ints.

  Raises:
    FileNotFoundError: `path` is neither.
  """
  if os.fspath(path).endswith(".tflite") and filesystem.exists(path) and (
      not filesystem.isdir(path)):
    return TfliteEmbeddingModel(path)
  return EmbeddingModel(path, batch_windows)
