"""Labelled downstream tasks: a train and a test source with their labels.

  synthetic[:N]        the embedded default's six sound kinds: N training
                       clips, N // 4 test clips from a disjoint seed
  files:DIR            class sub-folders; a stratified `test_fraction` of
                       each class is held out (or give `test_spec`)
  files:LIST.csv       `path,label` rows; same split
  tfds:NAME            TFDS splits `train_split` / `test_split`; the label
                       is the feature `label_key` ("label", or a nested
                       path such as "instrument/family")

Multi-label tasks: a files: label naming several classes joined by ";"
(`dog;bark`) makes the task multi-label (sigmoid outputs, mAP), as does a
TFDS label that is a sequence of class labels.

`COLA_SUITE` names the downstream tasks of COLA's paper that TensorFlow
Datasets has, with the label each uses.
"""

import collections
import dataclasses

import numpy as np
import tensorflow as tf

from common.data import data_sources

# Paper column -> (TFDS name, label feature). The paper's other tasks
# (LibriSpeech speaker id, birdsong, MUSAN, TUT scenes, Speech Commands V1)
# have no TFDS build with a classification label and split that match.
COLA_SUITE = collections.OrderedDict([
    ("Speech Commands V2", ("speech_commands", "label")),
    ("VoxCeleb", ("voxceleb", "label")),
    ("VoxForge", ("voxforge", "label")),
    ("NSynth instrument", ("nsynth", "instrument/family")),
])


@dataclasses.dataclass
class Task:
  """Train and test sources ({"audio", "label"} examples) and labels."""
  name: str
  train: object
  test: object
  label_names: list
  multi_label: bool = False
  # Multi-label: [source label index, class] multi-hot rows.
  label_matrix: np.ndarray = None
  train_size: int = -1  # -1: unknown (streamed)

  @property
  def num_outputs(self):
    return len(self.label_names)

  def encode_label(self, label):
    """Source label (tf) -> training target."""
    if not self.multi_label:
      return label
    if self.label_matrix is not None:
      return tf.gather(tf.constant(self.label_matrix, tf.float32), label)
    return tf.reduce_max(tf.one_hot(label, self.num_outputs), axis=0)

  def multi_hot(self, label):
    """Source label (numpy) -> multi-hot row, for scoring."""
    if self.label_matrix is not None:
      return self.label_matrix[int(label)]
    row = np.zeros([self.num_outputs], np.float32)
    row[np.asarray(label, np.int64)] = 1
    return row


def _subset(bank, indices):
  return data_sources.ClipBank(
      [bank.waveforms[i] for i in indices], bank.labels[indices],
      [bank.names[i] for i in indices], bank.label_names)


def stratified_split(labels, test_fraction, seed=0):
  """(train indices, test indices): `test_fraction` of each class held out;
  a class with one clip stays in training."""
  rng = np.random.default_rng(seed)
  train, test = [], []
  for label in np.unique(labels):
    members = rng.permutation(np.flatnonzero(labels == label))
    held = (int(round(test_fraction * len(members)))
            if len(members) > 1 else 0)
    held = min(max(held, 1 if len(members) > 1 else 0), len(members) - 1)
    test.extend(members[:held])
    train.extend(members[held:])
  return np.sort(train), np.sort(test)


def _relabel(bank, names):
  """Re-indexes a bank's labels into `names` (a test set's own folders)."""
  index = {n: i for i, n in enumerate(names)}
  missing = sorted(set(bank.label_names) - set(index))
  if missing:
    raise ValueError(f"test labels not in the training set: {missing}")
  bank.labels = np.array([index[bank.label_names[l]] for l in bank.labels],
                         np.int64)
  bank.label_names = list(names)
  return bank


def _multi_label_matrix(names):
  """Composite names ("a;b") -> (class names, [composite, class] matrix)."""
  parts = [[p.strip() for p in n.split(";") if p.strip()] for n in names]
  classes = sorted({p for ps in parts for p in ps})
  index = {c: i for i, c in enumerate(classes)}
  matrix = np.zeros([len(names), len(classes)], np.float32)
  for row, ps in enumerate(parts):
    matrix[row, [index[p] for p in ps]] = 1
  return classes, matrix


def _bank_task(name, train, test):
  if (train.labels < 0).any():
    raise ValueError(f"{name}: some clips have no label (files: labels come "
                     "from class sub-folders or a path,label CSV)")
  names = train.label_names
  if any(";" in n for n in names):
    classes, matrix = _multi_label_matrix(names)
    return Task(name, train, test, classes, True, matrix, len(train))
  return Task(name, train, test, list(names), train_size=len(train))


class _LabelView:
  """A TFDS builder whose examples also carry `label` read from `key`."""

  def __init__(self, builder, key):
    self._builder, self._key = builder, key
    self.info = builder.info

  def as_dataset(self, **kwargs):
    key = self._key.split("/")

    def relabel(example):
      value = example
      for k in key:
        value = value[k]
      example = dict(example)
      example["label"] = value
      return example

    return self._builder.as_dataset(**kwargs).map(relabel)


def _feature(features, key):
  for k in key.split("/"):
    features = features[k]
  return features


def _tfds_task(name, label_key, train_split, test_split):
  import tensorflow_datasets as tfds  # Only TFDS tasks need it.
  sources = []
  for split in (train_split, test_split):
    source = data_sources.TfdsSource(name, split)
    source.builder = _LabelView(source.builder, label_key)
    sources.append(source)
  feature = _feature(sources[0].builder.info.features, label_key)
  multi = isinstance(feature, tfds.features.Sequence)
  names = getattr(feature.feature if multi else feature, "names", None)
  if not names:
    raise ValueError(f"tfds:{name}: feature {label_key!r} is not a class "
                     "label (pick one with --label_key)")
  return Task(f"tfds:{name}", sources[0], sources[1], list(names), multi)


def load_task(spec, test_spec=None, test_fraction=0.2, seed=0,
              label_key="label", train_split="train", test_split="test"):
  """The Task a `--task` value names."""
  kind, rest = data_sources.parse_spec(spec)
  if kind == "synthetic":
    count = int(rest) if rest else 512
    return _bank_task(spec, data_sources.synthetic_bank(count, "train"),
                      data_sources.synthetic_bank(max(count // 4, 6), "test"))
  if kind == "tfds":
    name, _, split = rest.partition(":")
    return _tfds_task(name, label_key, split or train_split, test_split)
  if kind != "files":
    raise ValueError(f"--task={spec!r}: expected synthetic[:N], files:DIR, "
                     "files:LIST.csv or tfds:NAME")
  bank = data_sources.files_bank(rest)
  if test_spec:
    test = _relabel(data_sources.load(test_spec, "test"), bank.label_names)
    return _bank_task(spec, bank, test)
  train_idx, test_idx = stratified_split(bank.labels, test_fraction, seed)
  if not len(test_idx):
    raise ValueError(f"{spec}: too few clips to hold out a test set")
  return _bank_task(spec, _subset(bank, train_idx), _subset(bank, test_idx))
