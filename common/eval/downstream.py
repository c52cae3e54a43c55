"""Downstream classifiers on an audio encoder: COLA's four baselines.

  random      encoder with random weights, frozen; a linear head is trained
  supervised  encoder with random weights, trained with the head
  linear      the pre-trained encoder, frozen (COLA's "Frozen" row)
  finetune    the pre-trained encoder, trained with the head

The protocol is COLA's: the classifier trains on random crops of
`window_seconds` (1 s) from the training clips, and a test clip's score is
the mean of its logits over non-overlapping windows (the SavedModel
contract's windows: a tail shorter than a window is dropped, a clip shorter
than a window is zero-padded, centred). Single-label tasks report accuracy;
multi-label tasks (sigmoid outputs) report mAP: the mean over classes that
have positives in the test set of sklearn's average precision.

The head is linear: embeddings are standardised with statistics of the
initial encoder on a few training batches, then a Dense layer. Encoder
batch norm stays in inference mode except when training from scratch
(supervised), so fine-tuning a workdir's Keras model and fine-tuning its
SavedModel (whose functions were traced in inference mode) are the same
computation.
"""

import dataclasses
import time

from absl import logging
import keras
import numpy as np
import tensorflow as tf

from common.data import waveform_ops
from common.io import audio_io
from common.serve import loader
from common.train import method as method_lib
from common.train import runs

MODES = ("random", "supervised", "linear", "finetune")
PRETRAINED = {"linear": True, "finetune": True, "random": False,
              "supervised": False}
TRAIN_ENCODER = {"linear": False, "finetune": True, "random": False,
                 "supervised": True}
NORMALIZATIONS = ("clip", "window", "none")


@dataclasses.dataclass
class Settings:
  """How a downstream classifier is trained and tested."""
  steps: int = 1000
  batch_size: int = 32
  learning_rate: float = 1e-3
  window_seconds: float = 1.0
  normalize: str = "none"   # none: the waveform as the SavedModel gets it
                            # (the model levels each window itself); clip:
                            # L2 per clip; window: per crop/window, as the
                            # authors' downstream code (for models exported
                            # without a level step)
  seed: int = 0
  shuffle_buffer: int = 1024
  stats_batches: int = 4
  eval_batch_windows: int = 256
  max_test_clips: int = 0   # 0: the whole test split
  log_every: int = 50


# Encoders: waveform windows [n, samples] -> embeddings [n, D].


class KerasEncoder:
  """A Keras embedding model (a method's `embedding_model()`).

  Windows longer than the model's own are cut into its windows and their
  embeddings averaged, as the SavedModel does.
  """

  def __init__(self, model, window_samples):
    self.model = model
    self.window_samples = window_samples

  def __call__(self, waveform, training=False):
    framed, _ = waveform_ops.windows(waveform, self.window_samples,
                                     self.window_samples)
    n, count = tf.shape(framed)[0], tf.shape(framed)[1]
    flat = tf.reshape(framed, [-1, self.window_samples])
    h = tf.cast(self.model(flat, training=training), tf.float32)
    return tf.reduce_mean(tf.reshape(h, [n, count, -1]), axis=1)

  @property
  def trainable_variables(self):
    return list(self.model.trainable_variables)


class SavedModelEncoder:
  """A SavedModel following common/serve/export.py's contract (its `embed`)."""

  def __init__(self, loaded):
    self.loaded = loaded
    self.window_samples = int(loaded.window_samples.numpy())

  def __call__(self, waveform, training=False):
    del training  # Traced in inference mode at export.
    return self.loaded.embed(waveform)["embedding"]

  @property
  def trainable_variables(self):
    """The trainable variables `embed` uses (a restored object is no
    tf.Module: its function's captures are the reliable list)."""
    function = self.loaded.embed
    concrete = getattr(function, "concrete_functions", [function])[0]
    return [v for v in concrete.trainable_variables if v.trainable]


def load_workdir_model(path, pretrained=True, seed=0):
  """A workdir's Keras embedding model: its last checkpoint, or (not
  pretrained) a fresh initialisation of the same architecture."""
  config, model = runs.restore_model(path, pretrained=pretrained,
                                        seed=seed)
  return KerasEncoder(model.embedding_model(), _export_window(config))


def keras_model_from_config(config, weights=None, seed=0, name="config"):
  """KerasEncoder for a training config, with `weights` or random init."""
  keras.utils.set_random_seed(seed)
  model = method_lib.build_initialized_model(
      method_lib.load(config.method), config)
  if weights is not None:
    model.load_weights(weights)
  else:
    logging.info("%s: encoder with random weights (seed %d)", name, seed)
  return KerasEncoder(model.embedding_model(), _export_window(config))


def _export_window(config):
  return int(round(config.get("export_window_seconds", 1.0) *
                   config.sample_rate))


# The classifier and its training.


class Classifier(tf.Module):
  """Encoder -> standardise -> Dense(num_outputs)."""

  def __init__(self, encoder, num_outputs, train_encoder, encoder_training):
    super().__init__(name="downstream_classifier")
    self.encoder = encoder
    self.train_encoder = train_encoder
    self.encoder_training = encoder_training
    # Zero init: the first logits are uniform, the loss starts at log(C).
    self.head = keras.layers.Dense(num_outputs, kernel_initializer="zeros",
                                   name="head")
    self.mean = None
    self.scale = None

  def fit_standardisation(self, batches):
    """Mean and scale of the encoder's embeddings as training sees them."""
    embeddings = np.concatenate(
        [self.encoder(x, training=self.encoder_training).numpy()
         for x in batches])
    self.mean = tf.Variable(embeddings.mean(axis=0), trainable=False)
    self.scale = tf.Variable(1.0 / (embeddings.std(axis=0) + 1e-6),
                             trainable=False)
    self.head.build([None, embeddings.shape[1]])

  def __call__(self, waveform, training=False):
    h = self.encoder(waveform,
                     training=bool(training and self.encoder_training))
    return self.head((h - self.mean) * self.scale)

  def training_variables(self):
    variables = list(self.head.trainable_variables)
    if self.train_encoder:
      variables += self.encoder.trainable_variables
    return variables


class _Embeddings:
  """The identity on embeddings already computed: the encoder of a probe
  on frozen embeddings (linear_probe)."""

  trainable_variables = ()

  def __call__(self, x, training=False):
    del training
    return tf.convert_to_tensor(x, tf.float32)


def clip_embeddings(encoder, waveforms, window=16000, batch_size=64):
  """[clips, D]: each clip's mean `encoder` output over its windows.

  The contract's windows (non-overlapping, a short clip zero-padded), as
  the SavedModel's serving_default computes a clip embedding.

  Args:
    encoder: a callable [n, window] -> [n, D] (KerasEncoder,
      SavedModelEncoder, or a method model's embedding model).
    waveforms: clips, each a float [samples] array.
    window: the window in samples.
    batch_size: windows per encoder call.
  """
  rows = []
  for waveform in waveforms:
    framed, _ = waveform_ops.windows(
        tf.constant(np.asarray(waveform, np.float32)[np.newaxis]), window,
        window)
    framed = tf.reshape(framed, [-1, window])
    outputs = [encoder(framed[i:i + batch_size], training=False)
               for i in range(0, framed.shape[0], batch_size)]
    rows.append(tf.reduce_mean(tf.concat(outputs, 0), axis=0).numpy())
  return np.stack(rows).astype(np.float32)


def linear_probe(train_x, train_y, test_x, test_y, num_classes, steps=200,
                 learning_rate=1e-2, seed=0):
  """Test accuracy of the linear classifier (`Classifier`: standardise,
  then Dense) trained full-batch on frozen embeddings.

  The same head and training loop as the `linear` mode, on embeddings
  computed once instead of on random crops: the quick probe of the
  learning tests and benchmarks/multimodal_compare.py.

  Args:
    train_x, test_x: embeddings [n, D].
    train_y, test_y: integer labels [n].
    num_classes: the number of classes.
    steps: full-batch Adam steps.
    learning_rate: Adam's rate.
    seed: seeds Keras's randomness first.

  Returns:
    The accuracy on the test embeddings.
  """
  keras.utils.set_random_seed(seed)
  classifier = Classifier(_Embeddings(), num_classes, train_encoder=False,
                          encoder_training=False)
  classifier.fit_standardisation([np.asarray(train_x, np.float32)])
  batches = tf.data.Dataset.from_tensors(
      (np.asarray(train_x, np.float32), np.asarray(train_y, np.int64)))
  train(classifier, batches.repeat(),
        Settings(steps=steps, learning_rate=learning_rate, log_every=steps),
        multi_label=False)
  return accuracy(classifier(np.asarray(test_x, np.float32)).numpy(), test_y)


def window_samples(settings):
  return audio_io.seconds_to_samples(settings.window_seconds,
                                     audio_io.SAMPLE_RATE)


def training_batches(source, settings, encode_label):
  """Infinite (crops [batch, window], targets) from a task's train source."""
  window = window_samples(settings)

  def prepare(example):
    audio = example["audio"]
    if settings.normalize == "clip":
      audio = waveform_ops.l2_normalize(audio)
    crop = waveform_ops.random_crop(audio, window)
    if settings.normalize == "window":
      crop = waveform_ops.l2_normalize(crop)
    return crop, encode_label(example["label"])

  ds = source.dataset().shuffle(settings.shuffle_buffer, seed=settings.seed)
  return ds.repeat().map(prepare, num_parallel_calls=tf.data.AUTOTUNE).batch(
      settings.batch_size, drop_remainder=False).prefetch(tf.data.AUTOTUNE)


def train(classifier, batches, settings, multi_label):
  """Trains for `settings.steps`; returns the loss curve [(step, loss)]."""
  optimizer = keras.optimizers.Adam(settings.learning_rate)
  if multi_label:
    loss_fn = keras.losses.BinaryCrossentropy(from_logits=True)
  else:
    loss_fn = keras.losses.SparseCategoricalCrossentropy(from_logits=True)
  variables = classifier.training_variables()

  @tf.function
  def step(x, y):
    with tf.GradientTape() as tape:
      loss = loss_fn(y, classifier(x, training=True))
    gradients = tape.gradient(loss, variables)
    pairs = [(g, v) for g, v in zip(gradients, variables) if g is not None]
    optimizer.apply_gradients(pairs)
    return loss

  curve, running = [], []
  for i, (x, y) in enumerate(batches.take(settings.steps)):
    running.append(float(step(x, y)))
    if (i + 1) % settings.log_every == 0 or i + 1 == settings.steps:
      curve.append((i + 1, float(np.mean(running))))
      logging.info("step %d: loss %.4f", i + 1, curve[-1][1])
      running = []
  return curve


def predict_clips(classifier, source, settings):
  """Mean logits over each test clip's windows -> (logits [n, C], labels)."""
  window = window_samples(settings)

  @tf.function(input_signature=[tf.TensorSpec([None, window], tf.float32)])
  def logits_of(windows):
    return classifier(windows, training=False)

  ds = source.dataset()
  if settings.max_test_clips:
    ds = ds.take(settings.max_test_clips)
  clip_logits, labels, pending, owners = [], [], [], []

  def flush():
    if not pending:
      return
    out = logits_of(tf.constant(np.concatenate(pending))).numpy()
    starts = np.cumsum([0] + [len(p) for p in pending])
    for (clip, _), a, b in zip(owners, starts[:-1], starts[1:]):
      clip_logits[clip] = out[a:b].mean(axis=0)
    pending.clear()
    owners.clear()

  for example in ds.as_numpy_iterator():
    audio = example["audio"].astype(np.float32)
    if settings.normalize == "clip":
      audio = audio / max(np.linalg.norm(audio), 1e-9)
    view, _ = _windows(audio, window)
    if settings.normalize == "window":
      view = view / np.maximum(
          np.linalg.norm(view, axis=1, keepdims=True), 1e-9)
    clip_logits.append(None)
    labels.append(example["label"])
    pending.append(np.asarray(view, np.float32))
    owners.append((len(clip_logits) - 1, len(view)))
    if sum(len(p) for p in pending) >= settings.eval_batch_windows:
      flush()
  flush()
  return np.stack(clip_logits), labels


def _windows(audio, window):
  return loader.frames(audio, window, window)


# Metrics.


def accuracy(logits, labels):
  return float(np.mean(np.argmax(logits, axis=1) == np.asarray(labels)))


def mean_average_precision(scores, targets):
  """Mean over classes with a positive of average precision (AudioSet)."""
  from sklearn import metrics  # Only multi-label tasks need it.
  targets = np.asarray(targets)
  present = targets.sum(axis=0) > 0
  if not present.any():
    raise ValueError("no test clip has any label: mAP is undefined")
  return float(np.mean([
      metrics.average_precision_score(targets[:, c], scores[:, c])
      for c in np.flatnonzero(present)]))


def confusion(logits, labels, num_classes, multi_label):
  """[true, predicted] counts; multi-label: predicted = sigmoid > 0.5."""
  if not multi_label:
    return tf.math.confusion_matrix(
        np.asarray(labels), np.argmax(logits, axis=1),
        num_classes=num_classes).numpy()
  targets = np.asarray(labels, np.int64)
  predicted = (logits > 0).astype(np.int64)
  return targets.T @ predicted


@dataclasses.dataclass
class Result:
  mode: str
  metric: str
  value: float
  train_clips: int
  test_clips: int
  loss_curve: list
  confusion: list
  seconds: float


def run(task, encoder, mode, settings):
  """Trains and tests one mode's classifier on `task`; returns a Result."""
  start = time.perf_counter()
  keras.utils.set_random_seed(settings.seed)
  classifier = Classifier(encoder, task.num_outputs, TRAIN_ENCODER[mode],
                          encoder_training=(mode == "supervised"))
  batches = training_batches(task.train, settings, task.encode_label)
  classifier.fit_standardisation(
      x for x, _ in batches.take(settings.stats_batches))
  curve = train(classifier, batches, settings, task.multi_label)
  logits, labels = predict_clips(classifier, task.test, settings)
  if task.multi_label:
    targets = np.stack([task.multi_hot(label) for label in labels])
    metric, value = "mAP", mean_average_precision(logits, targets)
    matrix = confusion(logits, targets, task.num_outputs, True)
  else:
    metric, value = "accuracy", accuracy(logits, labels)
    matrix = confusion(logits, labels, task.num_outputs, False)
  return Result(mode, metric, value, task.train_size, len(labels),
                curve, matrix.tolist(), time.perf_counter() - start)
