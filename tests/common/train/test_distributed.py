"""Global-batch negatives: two replicas == one device on the same batch."""

import numpy as np
import pytest
import tensorflow as tf

from cola.configs import tiny
from cola import model as cola_model
from tests.strategies import MIRRORED
from tests.strategies import ONE_DEVICE


def make_config(global_negatives=True, similarity="bilinear"):
  config = tiny.get_config()
  config.global_negatives = global_negatives
  config.similarity = similarity
  config.learning_rate = 0.1
  # Batch norm statistics are per replica (as with the authors' code), which
  # makes a split batch a different function; compare the rest exactly.
  config.encoder_kwargs.batch_norm = False
  # Each replica draws its own positives' noise and its own random resized
  # crops: compare without them.
  config.noise_stddev = 0.0
  config.random_resized_crop.enabled = False
  return config


def one_step(strategy, config, anchors, positives):
  """Loss and weights after one SGD step of `strategy` on a global batch."""
  tf.keras.utils.set_random_seed(0)
  with strategy.scope():
    model = cola_model.Cola(config)
    model.compile(optimizer=tf.keras.optimizers.SGD(config.learning_rate))
    model.initialize()
  before = [v.numpy() for v in model.trainable_variables]
  ds = tf.data.Dataset.from_tensors((anchors, positives))
  history = model.fit(ds, epochs=1, steps_per_epoch=1, verbose=0)
  after = [v.numpy() for v in model.trainable_variables]
  gradients = [(b - a) / config.learning_rate for b, a in zip(before, after)]
  return history.history["loss"][0], gradients


@pytest.mark.parametrize("similarity", ["bilinear", "cosine"])
def test_mirrored_equals_one_device_on_the_global_batch(similarity):
  rng = np.random.default_rng(0)
  anchors = rng.uniform(-0.1, 0.1, [8, 16000]).astype(np.float32)
  positives = (anchors + rng.normal(0, 0.01, anchors.shape)).astype(
      np.float32)
  config = make_config(similarity=similarity)
  one, mirrored = ONE_DEVICE, MIRRORED
  loss_one, grads_one = one_step(one, config, anchors, positives)
  loss_two, grads_two = one_step(mirrored, config, anchors, positives)
  assert mirrored.num_replicas_in_sync == 2
  np.testing.assert_allclose(loss_two, loss_one, rtol=1e-5)
  for g1, g2 in zip(grads_one, grads_two):
    np.testing.assert_allclose(g2, g1, rtol=1e-4, atol=1e-6)


def test_per_replica_negatives_score_only_the_local_half():
  """global_negatives=False reproduces the authors' per-replica loss."""
  rng = np.random.default_rng(1)
  anchors = rng.uniform(-0.1, 0.1, [8, 16000]).astype(np.float32)
  positives = (anchors + rng.normal(0, 0.01, anchors.shape)).astype(
      np.float32)
  one, mirrored = ONE_DEVICE, MIRRORED
  local, _ = one_step(mirrored, make_config(global_negatives=False), anchors,
                      positives)
  halves = [one_step(one, make_config(), anchors[i:i + 4],
                     positives[i:i + 4])[0] for i in (0, 4)]
  np.testing.assert_allclose(local, np.mean(halves), rtol=1e-5)
