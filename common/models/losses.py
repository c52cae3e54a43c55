"""Contrastive similarities and losses, with negatives from the global batch.

Under `tf.distribute`, each replica holds a slice of the global batch. With
`global_negatives=True` the positives (the candidates each anchor is scored
against) are gathered from every replica with `ReplicaContext.all_gather`,
whose gradient flows back to the replica that produced each row. Each replica
then returns its local anchors' mean loss divided by the number of replicas:
Keras's optimizer sums gradients over replicas, so the step equals one device
on the same global batch.
"""

import keras
import tensorflow as tf


class BilinearSimilarity(keras.layers.Layer):
  """s(x, y) = x^T W y, W a learned [dim, dim] matrix (COLA's default)."""

  def build(self, x_shape, y_shape=None):
    dim = x_shape[-1]
    self.kernel = self.add_weight(
        name="kernel", shape=(dim, dim), initializer="glorot_uniform")

  def call(self, x, y):
    """x: [n, dim], y: [m, dim] -> [n, m] similarities."""
    return tf.matmul(tf.matmul(x, self.kernel), y, transpose_b=True)


class CosineSimilarity(keras.layers.Layer):
  """s(x, y) = cos(x, y) / temperature."""

  def __init__(self, temperature=0.2, **kwargs):
    super().__init__(**kwargs)
    self.temperature = temperature

  def call(self, x, y):
    x = tf.math.l2_normalize(x, axis=-1)
    y = tf.math.l2_normalize(y, axis=-1)
    return tf.matmul(x, y, transpose_b=True) / self.temperature


def build_similarity(name, temperature=0.2):
  if name == "bilinear":
    return BilinearSimilarity(name="bilinear_similarity")
  if name == "cosine":
    return CosineSimilarity(temperature, name="cosine_similarity")
  raise ValueError(f"unknown similarity {name!r}; use bilinear or cosine")


def num_replicas():
  """Replicas the current step is split over; 1 in a strategy's
  cross-replica context, where gather_global gathers nothing either."""
  context = tf.distribute.get_replica_context()
  return 1 if context is None else context.num_replicas_in_sync


def _on_worker_device(x, context):
  """`x`, placed on this replica's device when it has none.

  With one device per worker, MultiWorkerMirroredStrategy runs the replica
  function outside any device scope, and a collective on a tensor without a
  device fails ("destinations can not be empty"); pin it to the worker's.
  """
  if x.device or not isinstance(
      context.strategy, tf.distribute.MultiWorkerMirroredStrategy):
    return x
  devices = context.strategy.extended.worker_devices
  replica = tf.get_static_value(context.replica_id_in_sync_group) or 0
  with tf.device(devices[replica % len(devices)]):
    return tf.identity(x)


def gather_global(x, global_negatives=True):
  """Rows of `x` from every replica, and where this replica's rows start.

  Returns (x itself, 0) outside a multi-replica context (in a strategy's
  cross-replica context too: the learner's `initialize` builds its
  weights there) or when `global_negatives` is False.
  """
  context = tf.distribute.get_replica_context()
  if (not global_negatives or context is None or
      context.num_replicas_in_sync == 1):
    return x, 0
  gathered = context.all_gather(_on_worker_device(x, context), axis=0)
  offset = context.replica_id_in_sync_group * tf.shape(x)[0]
  return gathered, offset


def contrastive_logits(similarity, anchors, positives, global_negatives=True):
  """Scores local anchors against (global) positives.

  Returns:
    logits [n_local, n_candidates] float32 and labels [n_local]: the column
    of each anchor's own positive.
  """
  candidates, offset = gather_global(positives, global_negatives)
  logits = tf.cast(similarity(anchors, candidates), tf.float32)
  labels = offset + tf.range(tf.shape(anchors)[0])
  return logits, labels


def softmax_contrastive_loss(logits, labels):
  """Mean softmax cross-entropy of each row against its label column."""
  losses = tf.nn.sparse_softmax_cross_entropy_with_logits(
      labels=labels, logits=logits)
  return tf.reduce_mean(losses)


def contrastive_accuracy(logits, labels):
  """Share of anchors whose own positive scores highest."""
  predicted = tf.argmax(logits, axis=-1, output_type=labels.dtype)
  return tf.reduce_mean(tf.cast(tf.equal(predicted, labels), tf.float32))


def scale_for_replicas(loss):
  """Divides a replica's loss so that the sum of replica gradients is right."""
  return loss / tf.cast(num_replicas(), loss.dtype)


def info_nce(anchors, positives, temperature=0.1, global_negatives=True,
             mask=None):
  """InfoNCE of anchors against (global) positives, cosine / temperature.

  `mask` (float [n_local], 1 = usable) leaves examples out of the loss, as
  anchors and as candidates (e.g. audio-only clips in an audio-video pair).
  Returns (loss, accuracy) in the COLA loss's convention: their mean over
  replicas is the mean over the usable examples of the global batch, so
  `scale_for_replicas(loss)` gives the gradients of one device.
  """
  anchors = tf.cast(anchors, tf.float32)
  positives = tf.cast(positives, tf.float32)
  logits, labels = contrastive_logits(
      CosineSimilarity(temperature), anchors, positives, global_negatives)
  correct = tf.cast(tf.equal(tf.argmax(logits, axis=-1, output_type=tf.int32),
                             labels), tf.float32)
  if mask is None:
    return softmax_contrastive_loss(logits, labels), tf.reduce_mean(correct)
  mask = tf.cast(mask, tf.float32)
  candidates, _ = gather_global(mask, global_negatives)
  logits = tf.where(candidates[tf.newaxis] > 0, logits, -1e9)
  losses = tf.nn.sparse_softmax_cross_entropy_with_logits(
      labels=labels, logits=logits)
  # The usable examples per replica, on average over the replicas that
  # share the negatives: each replica's sum over it is its share of the mean.
  count = tf.reduce_sum(mask)
  if global_negatives:
    count = tf.reduce_sum(candidates) / tf.cast(num_replicas(), tf.float32)
  return (tf.math.divide_no_nan(tf.reduce_sum(mask * losses), count),
          tf.math.divide_no_nan(tf.reduce_sum(mask * correct), count))


def pair_nce(x, y, temperature=0.1, symmetric=True, global_negatives=True,
             mask=None):
  """InfoNCE between two views: x -> y, or the mean of both directions.

  Returns (loss, accuracy); accuracy is averaged like the loss.
  """
  loss, accuracy = info_nce(x, y, temperature, global_negatives, mask)
  if not symmetric:
    return loss, accuracy
  back, back_accuracy = info_nce(y, x, temperature, global_negatives, mask)
  return 0.5 * (loss + back), 0.5 * (accuracy + back_accuracy)
