"""Audio data sources chosen by one `--data` value, KIND:ARGS.

  synthetic[:NUM_CLIPS]   the embedded default (common/data/synthetic.py)
  files:DIR_OR_GLOB       audio files; labels from sub-folder names
  files:LIST.csv          a CSV of `path,label` rows (paths relative to it)
  tfds:NAME[:SPLIT]       a TensorFlow Datasets audio data set
  tfrecord:DIR_OR_GLOB    shards of `multimodal.prepare`
  my_package.my_source:ARGS  a user's source: a module with
                          `load_source(args, split, min_samples, progress)`

Kinds register with `@register("kind")` (a loader taking the spec's ARGS,
the split, min_samples and progress); a dotted KIND is a module path, so
a new source is one file anywhere on the path, like a method. A loader
returns a `DataSource` (the protocol below); `parse_spec` is the one
parser of the grammar.

Every source yields `{"audio": float32 [samples] at 16 kHz, "label": int64}`
(label -1 when unknown). File sources decode everything once, up front,
with a progress bar; a file that cannot be used is skipped, logged and
counted by reason, and a source where nothing is usable raises `NoUsableData`.
Large corpora belong in TFRecord shards (`multimodal.prepare`).
"""

import dataclasses
import importlib
import os
from typing import Callable, Dict, List, Protocol, runtime_checkable

from absl import logging
import numpy as np
import tensorflow as tf
import tqdm

from common.data.skips import NoUsableData  # noqa: F401  (raised here)
from common.data.skips import SkipReport
from common.data import synthetic
from common.data import tfrecord_source
from common.io import audio_io
from common.io import filesystem
from common.io import list_files


@dataclasses.dataclass
class ClipBank:
  """Decoded clips held in memory."""
  waveforms: list
  labels: np.ndarray
  names: list
  label_names: list
  skipped: SkipReport = dataclasses.field(default_factory=SkipReport)
  sample_rate: int = audio_io.SAMPLE_RATE

  def __len__(self):
    return len(self.waveforms)

  @property
  def num_classes(self):
    return len(self.label_names)

  @property
  def seconds(self):
    return sum(len(w) for w in self.waveforms) / self.sample_rate

  def dataset(self):
    lengths = np.array([len(w) for w in self.waveforms], np.int64)
    audio = tf.RaggedTensor.from_row_lengths(
        np.concatenate(self.waveforms), lengths)
    return tf.data.Dataset.from_tensor_slices(
        {"audio": audio, "label": self.labels.astype(np.int64)})


@runtime_checkable
class DataSource(Protocol):
  """What the training path, the evaluation and the export read of a source.

  `dataset()` yields {"audio": float32 [samples] at audio_io.SAMPLE_RATE,
  "label": int64 (-1 when unknown)}, finite; `skipped` counts the inputs
  it left out, by reason. Sources with labels also have `label_names`.
  """

  skipped: SkipReport

  def dataset(self) -> tf.data.Dataset:
    ...


Loader = Callable[[str, str, int, bool], DataSource]
_LOADERS: Dict[str, Loader] = {}


def register(kind: str) -> Callable[[Loader], Loader]:
  """Decorator: `loader(args, split, min_samples, progress)` opens the
  sources `--data=KIND:ARGS` names."""
  def wrap(loader):
    if kind in _LOADERS:
      raise ValueError(f"data source kind {kind!r} is registered twice")
    _LOADERS[kind] = loader
    return loader
  return wrap


def kinds() -> List[str]:
  """The registered kinds (a dotted KIND, a module path, works too)."""
  return sorted(_LOADERS)


def parse_spec(spec):
  """'kind:rest' -> (kind, rest); a bare 'synthetic' -> ('synthetic', '').
  A kind is registered, or a module path (it holds a dot)."""
  kind, _, rest = spec.partition(":")
  if kind not in _LOADERS and "." not in kind:
    raise ValueError(
        f"--data={spec!r}: expected synthetic, files:DIR_OR_GLOB, "
        "tfds:NAME[:SPLIT], tfrecord:GLOB or MODULE.PATH:ARGS (a module "
        "with load_source)")
  return kind, rest


def _module_loader(kind):
  """The `load_source` of module `kind` (a user's source)."""
  try:
    module = importlib.import_module(kind)
  except ModuleNotFoundError as e:
    if e.name is None or not kind.startswith(e.name):
      raise
    raise ValueError(f"--data={kind}:...: no module {kind} (a dotted kind "
                     "is a module path with load_source)") from None
  loader = getattr(module, "load_source", None)
  if not callable(loader):
    raise ValueError(f"--data={kind}:...: module {kind} has no "
                     "load_source(args, split, min_samples, progress)")
  return loader


def synthetic_bank(num_clips=512, split="train", seconds=2.0):
  """The embedded default; `split` picks a disjoint seed."""
  seed = {"train": 0, "validation": 1, "test": 2}.get(split, 3)
  clips = synthetic.make_clips(num_clips, seed=seed, seconds=seconds)
  return ClipBank([c.audio for c in clips],
                  np.array([c.label for c in clips], np.int64),
                  [f"synthetic-{split}-{i}" for i in range(num_clips)],
                  list(synthetic.KINDS))


def walk_files(top, errors=None):
  """(folder, sorted file names) for every folder under `top`, in order.

  Links to folders are followed (corpora are often assembled from links),
  each real folder once, so a link loop or a second link to the same
  folder adds nothing. Folders that cannot be listed go to `errors`
  (OSError) instead of vanishing, as os.walk's default would have them.
  """
  if filesystem.is_remote(top):  # Object stores have no links.
    for root, dirs, files in filesystem.walk(top, errors):
      yield root, sorted(files)
    return
  seen = set()
  for root, dirs, files in os.walk(
      top, followlinks=True,
      onerror=errors.append if errors is not None else None):
    real = os.path.realpath(root)
    if real in seen:
      dirs[:] = []
      continue
    seen.add(real)
    dirs.sort()
    yield root, sorted(files)


def _list_files(pattern, errors=None):
  """Audio files under a directory (recursively) or matching a glob."""
  if filesystem.isdir(pattern):
    found = []
    for root, files in walk_files(pattern, errors):
      found.extend(filesystem.join(root, f) for f in files
                   if f.lower().endswith(audio_io.AUDIO_EXTENSIONS))
    return pattern, found
  return None, filesystem.glob(pattern)


def labelled_files(pattern, errors=None):
  """[(path, label name or None)] for a files: spec."""
  if pattern.lower().endswith(".csv"):
    base = os.path.dirname(filesystem.absolute(pattern))
    return [(r[0] if filesystem.is_remote(r[0]) else os.path.join(base, r[0]),
             r[1] if len(r) > 1 and r[1] else None)
            for r in list_files.csv_rows(pattern)]
  root, paths = _list_files(pattern, errors)
  labelled = []
  for path in paths:
    label = None
    if root is not None:
      parent = os.path.relpath(os.path.dirname(path), root)
      label = None if parent == "." else parent.split(os.sep)[0]
    labelled.append((path, label))
  return labelled


def files_bank(pattern, min_samples=1, progress=True):
  """Decodes every audio file of a files: spec into a ClipBank."""
  unlisted = []
  labelled = labelled_files(pattern, unlisted)
  label_names = sorted({l for _, l in labelled if l is not None})
  index = {name: i for i, name in enumerate(label_names)}
  bank = ClipBank([], np.zeros([0], np.int64), [], label_names)
  for error in unlisted:
    bank.skipped.add(audio_io.AudioError(
        error.filename, audio_io.UNREADABLE,
        f"cannot list folder: {error.strerror}"))
    logging.warning("skipped folder %s: %s", error.filename, error.strerror)
  if not labelled:
    raise NoUsableData(f"files:{pattern}: no audio files found; "
                       f"{bank.skipped.summary()}")
  labels = []
  for path, label in tqdm.tqdm(labelled, desc="reading audio",
                               disable=not progress, unit="file"):
    try:
      waveform = audio_io.read_audio(path, min_samples=min_samples)
    except audio_io.AudioError as e:
      bank.skipped.add(e)
      logging.warning("skipped %s", e)
      continue
    bank.waveforms.append(waveform)
    bank.names.append(path)
    labels.append(index[label] if label is not None else -1)
  bank.labels = np.array(labels, np.int64)
  logging.info("files:%s: %d usable files, %.1f s of audio; %s", pattern,
               len(bank), bank.seconds, bank.skipped.summary())
  if not bank.waveforms:
    raise NoUsableData(
        f"files:{pattern}: no usable audio among {len(labelled)} files; "
        f"{bank.skipped.summary()}")
  return bank


class TfdsSource:
  """An audio data set from TensorFlow Datasets, streamed with tf.data."""

  def __init__(self, name, split="train", data_dir=None):
    import tensorflow_datasets as tfds  # Imported only when used.
    self.builder = tfds.builder(name, data_dir=data_dir)
    self.split = split
    features = self.builder.info.features
    self.audio_key = next(
        (k for k in ("audio", "waveform", "speech") if k in features), None)
    if self.audio_key is None:
      raise ValueError(f"tfds:{name} has no audio feature: {list(features)}")
    self.sample_rate = getattr(features[self.audio_key], "sample_rate",
                               None) or audio_io.SAMPLE_RATE
    label = features["label"] if "label" in features else None
    self.label_names = list(label.names) if label is not None and hasattr(
        label, "names") else []
    self.skipped = SkipReport()

  @property
  def num_classes(self):
    return len(self.label_names)

  def dataset(self):
    ds = self.builder.as_dataset(split=self.split, shuffle_files=True)
    dtype = tf.as_dtype(self.builder.info.features[self.audio_key].tf_dtype)
    rate = self.sample_rate

    def convert(example):
      audio = tf.cast(example[self.audio_key], tf.float32)
      if audio.shape.rank == 2:
        audio = tf.reduce_mean(audio, axis=-1)
      if dtype.is_integer:
        # TFDS stores integer audio as 16-bit PCM values whatever the
        # container dtype (int64 for voxforge, voxceleb): scale by 2^15.
        audio = audio / 32768.0
      if rate != audio_io.SAMPLE_RATE:
        audio = tf.numpy_function(
            lambda x: audio_io.resample(x, rate).astype(np.float32), [audio],
            tf.float32)
        audio.set_shape([None])
      label = tf.cast(example.get("label", -1), tf.int64)
      return {"audio": audio, "label": label}

    return ds.map(convert, num_parallel_calls=tf.data.AUTOTUNE).filter(
        lambda x: tf.size(x["audio"]) > 0)


def load(spec: str, split: str = "train", min_samples: int = 1,
         progress: bool = True) -> DataSource:
  """Opens the source a `--data` value names.

  Args:
    spec: `synthetic[:N]`, `files:DIR_OR_GLOB`, `files:LIST.csv`,
      `tfds:NAME[:SPLIT]`, `tfrecord:GLOB` or `MODULE.PATH:ARGS` (the
      module docstring).
    split: the split of synthetic and TFDS sources without their own.
    min_samples: files shorter than this are skipped (counted as
      too_short).
    progress: show a progress bar while files are decoded.

  Returns:
    A DataSource: a ClipBank (synthetic, files), a TfdsSource, a
    TfrecordSource or a user's source.

  Raises:
    ValueError: an unknown kind of spec, or a source that is no DataSource.
    NoUsableData: the source holds no usable clip.
  """
  kind, rest = parse_spec(spec)
  loader = _LOADERS.get(kind) or _module_loader(kind)
  source = loader(rest, split, min_samples, progress)
  if not isinstance(source, DataSource):
    raise ValueError(f"--data={spec}: the {kind} loader returned "
                     f"{type(source).__name__}, which has no dataset() and "
                     "skipped (common/data/data_sources.py: DataSource)")
  return source


@register("synthetic")
def _synthetic(rest, split, min_samples, progress):
  del min_samples, progress
  return synthetic_bank(int(rest) if rest else 512, split)


@register("files")
def _files(rest, split, min_samples, progress):
  del split
  return files_bank(rest, min_samples=min_samples, progress=progress)


@register("tfds")
def _tfds(rest, split, min_samples, progress):
  del min_samples, progress
  name, _, tfds_split = rest.partition(":")
  return TfdsSource(name, tfds_split or split)


@register("tfrecord")
def _tfrecord(rest, split, min_samples, progress):
  del split, progress
  return tfrecord_source.TfrecordSource(rest, min_samples=min_samples)
