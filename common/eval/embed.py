r"""Audio files -> embeddings file (batch extraction).

  python -m common.embed --model=runs/cola --input=clips/ \
      --output=embeddings.npz

`--model` is a SavedModel, a training workdir, or a .tflite file from
`python -m common.export --tflite --tflite_seconds=4` (windows go through
parallel one-thread interpreters: 1.5x to 1.9x TensorFlow on a 2-core
CPU, with the SavedModel's embeddings to 1e-5; `--tflite_int8` models are
faster still); `--input` a comma-separated
list of files, directories (searched recursively for audio files) and globs.
For every usable file the output holds its clip embedding (the mean of its
window embeddings: what the SavedModel's serving_default returns) and its
window embeddings with each window's centre in ms (window_embeddings).

Files are read `--block_seconds` at a time and windows are embedded in
batches, so memory is bounded however long a file is (hours are fine).
Files that cannot be used are skipped, listed with their reason and stored
in the output; exit code 1 if no file was usable.

The .npz holds plain arrays only (np.load(path) with the default
allow_pickle=False reads it):

  paths [F] str, durations_s [F], clip_embeddings [F, D]
  window_embeddings [W, D], timestamps_ms [W], window_file [W] (row of
  `paths` each window belongs to), window_offsets [F + 1] (file i's windows
  are rows window_offsets[i]:window_offsets[i + 1])
  skipped_paths [S] str, skipped_reasons [S] str
  sample_rate, window_samples, hop_samples (scalars)
"""

import os
import sys

from absl import flags
from absl import logging
from typing import Dict, Sequence, Tuple

import numpy as np
import tqdm

from common.data import data_sources
from common.io import audio_io
from common.io import audio_stream
from common.io import filesystem
from common.serve import loader
from common.train import runs


def list_inputs(spec):
  """Comma-separated files, directories and globs -> sorted unique paths."""
  found = []
  for item in filter(None, (s.strip() for s in spec.split(","))):
    if filesystem.isdir(item):  # As files: sources list a folder.
      for root, files in data_sources.walk_files(item):
        found.extend(filesystem.join(root, f) for f in files
                     if f.lower().endswith(audio_io.AUDIO_EXTENSIONS))
    elif filesystem.exists(item):
      found.append(item)
    else:
      matches = filesystem.glob(item)
      if not matches:
        logging.warning("--input item %s matches nothing", item)
      found.extend(matches)
  return list(dict.fromkeys(found))


class _WindowCutter:
  """Cuts the contract's windows from a stream of blocks, in order."""

  def __init__(self, window, hop):
    self.window, self.hop = window, hop
    self.buffer = np.zeros([0], np.float32)
    self.buffer_start = 0  # Clip sample index of buffer[0].
    self.next_start = 0
    self.total = 0

  def push(self, block):
    """Adds a block; returns the windows it completes, [k, window]."""
    self.buffer = np.concatenate([self.buffer, block])
    self.total += len(block)
    starts = []
    while self.next_start + self.window <= self.total:
      starts.append(self.next_start - self.buffer_start)
      self.next_start += self.hop
    out = np.stack([self.buffer[s:s + self.window] for s in starts]) if (
        starts) else np.zeros([0, self.window], np.float32)
    drop = min(self.next_start - self.buffer_start, len(self.buffer))
    self.buffer = self.buffer[drop:]
    self.buffer_start += drop
    return out

  def finish(self):
    """The padded single window of a clip shorter than one window."""
    if self.total >= self.window:
      return np.zeros([0, self.window], np.float32)
    view, _ = loader.frames(self.buffer, self.window, self.hop)
    return np.array(view)


def embed_file(model, path: str, block_seconds: float = 60.0
               ) -> Tuple[np.ndarray, np.ndarray, np.ndarray, float]:
  """Embeds one audio file, `block_seconds` read at a time.

  Args:
    model: an opened embedding model (common.serve.loader.load, or
      common.train.runs.load_embedding_model for a workdir).
    path: an audio file (local or any tf.io.gfile path).
    block_seconds: audio decoded per step: bounds the memory.

  Returns:
    (clip embedding [D], window embeddings [T, D], timestamps in ms [T],
    duration in seconds).

  Raises:
    audio_io.AudioError: the file cannot be used (its `reason` says why).
  """
  cutter = _WindowCutter(model.window_samples, model.hop_samples)
  parts = []
  for block in audio_stream.blocks(path, block_seconds, model.sample_rate):
    windows = cutter.push(block)
    if len(windows):
      parts.append(model.embed_windows(windows))
  last = cutter.finish()
  if len(last):
    parts.append(model.embed_windows(last))
  windows = np.concatenate(parts)
  if cutter.total < model.window_samples:
    centres = np.array([cutter.total / 2.0])
  else:
    centres = (np.arange(len(windows)) * model.hop_samples +
               model.window_samples / 2.0)
  return (windows.mean(axis=0), windows,
          (centres * 1000.0 / model.sample_rate).astype(np.float32),
          cutter.total / model.sample_rate)


def embed_files(model, paths: Sequence[str], block_seconds: float = 60.0,
                progress: bool = True) -> Dict[str, np.ndarray]:
  """Embeds every path; a file that cannot be used is skipped and listed.

  Returns:
    The arrays the .npz holds: paths, clip_embeddings [n, D],
    window_embeddings (all files' windows), window_file (their file
    index) and window_offsets, timestamps_ms, durations_s, sample_rate,
    skipped_paths, skipped_reasons (the module docstring).
  """
  kept, durations, clips, windows, stamps, skipped = [], [], [], [], [], []
  bar = tqdm.tqdm(paths, desc="embedding", unit="file", disable=not progress)
  for path in bar:
    try:
      clip, window, stamp, seconds = embed_file(model, path, block_seconds)
    except audio_io.AudioError as e:
      logging.warning("skipped %s", e)
      skipped.append((path, e.reason))
      continue
    kept.append(path)
    durations.append(seconds)
    clips.append(clip)
    windows.append(window)
    stamps.append(stamp)
    bar.set_postfix(skipped=len(skipped))
  counts = [len(w) for w in windows]
  size = model.embedding_size
  return {
      "paths": np.array(kept, dtype=str),
      "durations_s": np.array(durations, np.float64),
      "clip_embeddings": (np.stack(clips) if clips
                          else np.zeros([0, size], np.float32)),
      "window_embeddings": (np.concatenate(windows) if windows
                            else np.zeros([0, size], np.float32)),
      "timestamps_ms": (np.concatenate(stamps) if stamps
                        else np.zeros([0], np.float32)),
      "window_file": np.repeat(np.arange(len(counts)), counts).astype(
          np.int64),
      "window_offsets": np.concatenate([[0], np.cumsum(counts)]).astype(
          np.int64),
      "skipped_paths": np.array([p for p, _ in skipped], dtype=str),
      "skipped_reasons": np.array([r for _, r in skipped], dtype=str),
      "sample_rate": np.int64(model.sample_rate),
      "window_samples": np.int64(model.window_samples),
      "hop_samples": np.int64(model.hop_samples),
  }


def save(arrays, output):
  """np.savez, written under a temporary name and committed (local or
  remote: common/io/filesystem.py)."""
  output = filesystem.absolute(output)
  filesystem.makedirs(os.path.dirname(output))
  with filesystem.writing_bytes(output) as f:
    np.savez(f, **arrays)
  return output


def run(model_path, inputs, output, block_seconds=60.0, batch_windows=256):
  """The command: embeds, reports skipped files, writes; the exit code."""
  paths = list_inputs(inputs)
  if not paths:
    print(f"error: no files found for --input={inputs}", file=sys.stderr)
    return 1
  try:
    model = runs.load_embedding_model(model_path, batch_windows)
  except (FileNotFoundError, ValueError) as e:  # ValueError: a bad .tflite.
    print(f"error: {e}", file=sys.stderr)
    return 1
  arrays = embed_files(model, paths, block_seconds)
  for path, reason in zip(arrays["skipped_paths"], arrays["skipped_reasons"]):
    print(f"skipped: {path} ({reason})")
  if not len(arrays["paths"]):
    print(f"error: none of {len(paths)} files was usable", file=sys.stderr)
    return 1
  output = save(arrays, output)
  print(f"{len(arrays['paths'])} files embedded "
        f"({arrays['durations_s'].sum():.1f} s of audio, "
        f"{len(arrays['window_embeddings'])} windows), "
        f"{len(arrays['skipped_paths'])} skipped; written to {output}")
  return 0


def main(argv):
  del argv
  f = flags.FLAGS
  if not f.model or not f.input:
    print("error: --model and --input are required", file=sys.stderr)
    return 2
  return run(f.model, f.input, f.output, f.block_seconds, f.batch_windows)


def define_flags():
  """The command's flags (common/embed.py defines them)."""
  flags.DEFINE_string("model", None, "SavedModel directory, training "
                      "workdir, or .tflite file (converted with hop = window; "
                      "the fastest path on a CPU).")
  flags.DEFINE_string("input", None, "Comma-separated audio files, "
                      "directories (recursive) and globs.")
  flags.DEFINE_string("output", "embeddings.npz", "The .npz to write.")
  flags.DEFINE_float("block_seconds", 60.0, "Audio read and embedded per "
                     "step; bounds memory for long files.")
  flags.DEFINE_integer("batch_windows", 256, "Windows per encoder call.")
