"""The learner base: the keras.Model every self-supervised method subclasses.

The base owns what every method shares, written once:

  - the frontend (`config.frontend`) and the training crop's geometry
    (`crop_samples`, `log_mel_shape`), and the random resized crop of
    log-mels in training (`config.random_resized_crop`);
  - `build`, `initialize` (every weight created by one eager call on an
    example batch of zeros), and `adapt` (the frontend's data statistics,
    measured on the first training batches);
  - Keras's `train_step` and `test_step`: the tape, the loss scaled for
    the replicas and the loss-scale optimizer, the update, and one Mean
    tracker per reported value, `loss` first.

A method writes only what is its own (cola/model.py, multimodal/model.py,
byol/model.py):

  __init__(config)           super().__init__(config, metric_names), then
                             its encoders and heads
  loss_step(batch, training) -> (loss, {name: value}): this replica's
                             unscaled loss on one batch of its data, and the
                             other values it reports (each of metric_names
                             but "loss")
  example_batch()            a batch of 2 zeros shaped like its data
  embedding_encoders()       (log-mel encoder, waveform encoder), either
                             None: what the exported AudioEmbedding reads
                             (common/models/embedding.py)
  adapt_waveforms(batch)     the [n, samples] waveforms of a training batch
                             the frontend measures (default: batch[0])
  optimized_variables        the variables the optimizer updates (default:
                             every trainable one; BYOL leaves its target out)
  after_update()             runs after each optimizer step (BYOL's moving
                             average of the target network; default: nothing)

Calling the model on waveform windows gives the exported embedding.
"""

from typing import Any, Dict, Sequence, Tuple

import keras
import tensorflow as tf

from common.data import waveform_ops
from common.models import embedding
from common.models import frontend as frontend_lib
from common.models import losses
from common.models import mel_augment


class Learner(keras.Model):
  """Base of the methods' training models (module docstring).

  Args:
    config: the run's config (common/train/run_config.py and the method's).
    metric_names: what the steps report, "loss" first.
  """

  def __init__(self, config, metric_names: Sequence[str] = ("loss",),
               **kwargs):
    super().__init__(**kwargs)
    if not metric_names or metric_names[0] != "loss":
      raise ValueError(f"metric_names {metric_names}: 'loss' comes first")
    self.config = config
    self.frontend = frontend_lib.from_config(config.frontend)
    self.crop_samples = waveform_ops.seconds_to_samples(
        config.crop_seconds, config.sample_rate)
    self.log_mel_shape = self.frontend.output_shape_for(self.crop_samples)
    self.resized_crop = config.get(
        "random_resized_crop", mel_augment.random_resized_crop_config())
    mel_augment.check_config(self.resized_crop)
    self.trackers = [keras.metrics.Mean(name=name) for name in metric_names]

  # What a method implements.

  def loss_step(self, batch, training: bool
                ) -> Tuple[tf.Tensor, Dict[str, tf.Tensor]]:
    raise NotImplementedError

  def example_batch(self) -> Any:
    raise NotImplementedError

  def embedding_encoders(self) -> Tuple[Any, Any]:
    raise NotImplementedError

  def adapt_waveforms(self, batch) -> tf.Tensor:
    return batch[0]

  @property
  def optimized_variables(self):
    return self.trainable_variables

  def after_update(self) -> None:
    pass

  # Shared steps.

  def step_seeds(self, count):
    """`count` independent stateless seeds for this step's random draws.

    Derived from `config.seed`, the optimizer's step and the replica, so a
    run's augmentations follow its seed (the same seed draws the same
    numbers in another process, after a resume, and under XLA, which
    ignores the op seeds of stateful random ops), and every replica and
    step draws its own."""
    step = (tf.cast(self.optimizer.iterations, tf.int64)
            if getattr(self, "optimizer", None) is not None else
            tf.constant(0, tf.int64))
    context = tf.distribute.get_replica_context()
    replica = tf.cast(context.replica_id_in_sync_group if context else 0,
                      tf.int64)
    base = tf.stack([tf.cast(int(self.config.get("seed", 0)), tf.int64),
                     step * 4096 + replica])
    return tf.unstack(tf.random.experimental.stateless_split(base, count))

  def augment_log_mels(self, log_mels, training, seed=None):
    """Log-mels randomly re-cropped in time and frequency, in training,
    when `config.random_resized_crop.enabled` (`seed`: a stateless seed,
    default one of `step_seeds`)."""
    if not training or not self.resized_crop.enabled:
      return log_mels
    if seed is None:
      seed, = self.step_seeds(1)
    return mel_augment.random_resized_crop(log_mels, self.resized_crop, seed)

  def embedding_model(self) -> embedding.AudioEmbedding:
    """Waveform windows -> h: the frontend and the encoder(s) only, what is
    exported (SavedModel, TFLite, the Keras layer). It shares this
    model's layers, so it has the trained weights."""
    return embedding.AudioEmbedding(self.frontend, *self.embedding_encoders())

  def call(self, waveform, training=False):
    return embedding.embed(self.frontend, *self.embedding_encoders(),
                           waveform, training)

  def build(self, input_shape):
    # Sub-layers build on their first call; initialize() makes that call.
    self.built = True

  def initialize(self):
    """Creates every weight: the exported embedding's, then the loss's."""
    self(tf.zeros([2, self.crop_samples]))
    self.loss_step(self.example_batch(), training=False)

  def adapt(self, dataset):
    """Measures the frontend's standardisation on the waveforms of the
    first training batches (`frontend.standardize_examples` of them)."""
    self.frontend.adapt_on_batches(
        (self.adapt_waveforms(batch) for batch in dataset),
        int(self.config.frontend.get("standardize_examples", 0)))

  def train_step(self, data):
    variables = self.optimized_variables
    with tf.GradientTape() as tape:
      loss, values = self.loss_step(data, True)
      scaled = self.optimizer.scale_loss(losses.scale_for_replicas(loss))
    gradients = tape.gradient(scaled, variables)
    self.optimizer.apply_gradients(zip(gradients, variables))
    self.after_update()
    return self._update_metrics(loss, values)

  def test_step(self, data):
    return self._update_metrics(*self.loss_step(data, False))

  def _update_metrics(self, loss, values):
    self.trackers[0].update_state(loss)
    for tracker in self.trackers[1:]:
      tracker.update_state(values[tracker.name])
    return {m.name: m.result() for m in self.metrics}

  @property
  def metrics(self):
    return list(self.trackers)
