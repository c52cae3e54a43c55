"""Trained encoder -> TensorFlow SavedModel that embeds raw 16 kHz audio.

The SavedModel contract (tested, and relied on by evaluation, embedding
extraction, HEAR and TF Serving):

  serving_default(waveform: float32 [batch, samples])
      -> embedding: float32 [batch, D]
         the encoder output h = f(x) averaged over windows of the clip
  window_embeddings(waveform: float32 [batch, samples])
      -> embeddings: float32 [batch, windows, D]
         timestamps_ms: float32 [batch, windows], each window's centre

Windows are `window_seconds` long (1 s, the training crop) and start every
`hop_seconds` (default: the window, i.e. non-overlapping, COLA's test-time
protocol); windows never pass the end of the clip, and a clip shorter than
one window is zero-padded (centred) to one window. Any length works, zero
included (an empty clip is one window of silence).

Bad input fails with a clear InvalidArgumentError (TF Serving answers it
as a bad request), never with NaN embeddings or a dead server:
  NaN or Inf samples   "waveform holds NaN or Inf samples" (CheckNumerics;
                       zeroing them would embed corrupt audio plausibly)
  not [batch, samples] "Shape of tensor waveform [...] is not compatible
                       with expected shape [?,?]" (EnsureShape: the
                       signature alone does not check the rank)
  not float32          "expected to be a float tensor but is a ..."
  finite, but far beyond [-1, 1]
                       "embedding is not finite: are the waveform's
                       samples far outside [-1, 1]?" (a float32 near its
                       maximum overflows the STFT; checked on the small
                       output rather than clipping a copy of the input)

The module also carries `sample_rate`, `window_samples`, `hop_samples` and
`embedding_size` as int variables, readable after `tf.saved_model.load`.

This module takes a built encoder and knows nothing of training; the
command `python -m common.export --workdir=WORKDIR` (common/export.py)
rebuilds a run's model first (common.train.runs.export_workdir).
"""

import os
from typing import Callable, Optional

import tensorflow as tf

from common.data import waveform_ops
from common.io import audio_io
from common.io import filesystem
from common.io import paths
from common.io import state_files


SAVED_MODEL_FILE = "saved_model.pb"  # Present once an export is whole.
# What tf.saved_model.save writes: a folder holding anything else is not
# (only) a SavedModel, and an export never replaces it.
SAVED_MODEL_ENTRIES = {SAVED_MODEL_FILE, "variables", "assets", "fingerprint.pb",
                       "keras_metadata.pb"}


class NotOurs(ValueError):
  """An output path holds something an export did not write."""


def check_output(path: str) -> None:
  """Refuses an export path that holds what is not a SavedModel: a file,
  a link, or a folder with other entries (a user's files). An absent path,
  an empty folder or a SavedModel (to be replaced) are fine. Called before
  any work, so nothing of the user's is touched.

  Raises:
    NotOurs: one line naming the path and what is in the way.
    UnsafePath: `path` is a symbolic link.
  """
  path = filesystem.absolute(path).rstrip("/")
  if os.path.islink(path):
    raise paths.UnsafePath(
        f"{path} is a symbolic link: refusing to replace it (export to the "
        "folder it points to instead)")
  if not filesystem.exists(path):
    return
  if not filesystem.isdir(path):
    raise NotOurs(f"{path} is a file, not a SavedModel folder: refusing to "
                  "replace it; give --output another path")
  others = sorted(set(filesystem.listdir(path)) - SAVED_MODEL_ENTRIES)
  if others:
    shown = ", ".join(others[:3]) + (", ..." if len(others) > 3 else "")
    raise NotOurs(
        f"{path} holds files that are not a SavedModel ({shown}): refusing "
        "to replace them; give --output a new or empty folder")


class EmbeddingModule(tf.Module):
  """A tf.Module around a Keras encoder (Keras 3 models are not Modules)."""

  def __init__(self, encoder, sample_rate=16000, window_seconds=1.0,
               hop_seconds=None, embedding_size=None):
    super().__init__(name="audio_embedding")
    self.encoder = encoder
    window = audio_io.seconds_to_samples(window_seconds, sample_rate)
    hop = audio_io.seconds_to_samples(hop_seconds or window_seconds,
                                      sample_rate)
    if embedding_size is None:
      embedding_size = int(encoder(tf.zeros([1, window])).shape[-1])
    self._window, self._hop, self._rate = window, hop, sample_rate
    self._size = embedding_size
    self.sample_rate = tf.Variable(sample_rate, trainable=False)
    self.window_samples = tf.Variable(window, trainable=False)
    self.hop_samples = tf.Variable(hop, trainable=False)
    self.embedding_size = tf.Variable(embedding_size, trainable=False)

  def _embed_windows(self, waveform):
    waveform = tf.ensure_shape(tf.convert_to_tensor(waveform, tf.float32),
                               [None, None], name="waveform")
    waveform = tf.debugging.check_numerics(
        waveform, "waveform holds NaN or Inf samples")
    framed, centres = waveform_ops.windows(waveform, self._window, self._hop)
    batch, count = tf.shape(framed)[0], tf.shape(framed)[1]
    flat = tf.reshape(framed, [-1, self._window])
    # An empty batch has no window to run: some CPU kernels mishandle a
    # batch of 0 (a batch norm after the log-mel's standardisation was
    # handed the wrong shape), so the encoder is not called at all.
    embeddings = tf.cond(
        tf.shape(flat)[0] > 0,
        lambda: tf.cast(self.encoder(flat, training=False), tf.float32),
        lambda: tf.zeros([0, self._size]))
    embeddings = tf.debugging.check_numerics(
        embeddings, "embedding is not finite: are the waveform's samples far "
        "outside [-1, 1]?")
    embeddings = tf.reshape(embeddings, [batch, count, self._size])
    timestamps = tf.tile((centres * 1000.0 / self._rate)[tf.newaxis],
                         [batch, 1])
    return embeddings, timestamps

  @tf.function(input_signature=[
      tf.TensorSpec([None, None], tf.float32, name="waveform")])
  def embed(self, waveform):
    embeddings, _ = self._embed_windows(waveform)
    return {"embedding": tf.reduce_mean(embeddings, axis=1)}

  @tf.function(input_signature=[
      tf.TensorSpec([None, None], tf.float32, name="waveform")])
  def embed_windows(self, waveform):
    embeddings, timestamps = self._embed_windows(waveform)
    return {"embeddings": embeddings, "timestamps_ms": timestamps}


def _recover(path):
  """Cleans up after an export that was killed: its temporary folder goes,
  and a previous SavedModel moved aside but not yet replaced comes back
  (local disks; an object store's commit leaves no folder aside)."""
  parent, name = os.path.split(path)
  for tmp in filesystem.matching(parent, name + ".tmp-*"):
    filesystem.rmtree(tmp)
  olds = sorted(filesystem.matching(parent, name + ".old-*"),
                key=filesystem.mtime)
  if olds and not filesystem.exists(path):
    os.replace(olds.pop(), path)
  for old in olds:
    filesystem.rmtree(old)


def export_saved_model(encoder: Callable, path: str, sample_rate: int = 16000,
                       window_seconds: float = 1.0,
                       hop_seconds: Optional[float] = None) -> str:
  """Writes the SavedModel of `encoder` atomically.

  A temporary folder, then filesystem.commit_folder (saved_model.pb last
  on object stores): at any moment `path` is absent, the previous export
  or the new one, and a kill leaves nothing the next export does not
  clean up.

  Args:
    encoder: a Keras callable [n, window samples] -> [n, D] (a method
      model's `embedding_model()`), its weights loaded.
    path: the SavedModel directory (local or any tf.io.gfile path).
    sample_rate: the waveform's rate, stored in the SavedModel.
    window_seconds: the window each embedding covers.
    hop_seconds: the step between windows (default: the window).

  Returns:
    The SavedModel's absolute path.

  Raises:
    UnsafePath: `path` is a symbolic link.
    NotOurs: `path` holds something that is not a SavedModel.
    WriteFailed: the SavedModel could not be written.
  """
  path = filesystem.absolute(path).rstrip("/")
  check_output(path)
  module = EmbeddingModule(encoder, sample_rate, window_seconds, hop_seconds)
  _recover(path)
  tmp = f"{path}.tmp-{os.getpid()}"
  previous = ("the previous export there is intact"
              if filesystem.exists(path) else "nothing was exported")
  with state_files.writing(f"the SavedModel {path} ({previous})",
                           cleanup=[tmp]):
    tf.saved_model.save(module, tmp, signatures={
        "serving_default": module.embed.get_concrete_function(),
        "window_embeddings": module.embed_windows.get_concrete_function()})
    filesystem.commit_folder(tmp, path, SAVED_MODEL_FILE)
  return path
