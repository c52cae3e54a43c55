"""InfoNCE over pairs (common/models/losses.py) against plain numpy."""

import numpy as np
import pytest
import tensorflow as tf

from common.models import losses


def numpy_info_nce(x, y, temperature, rows=None):
  """Mean cross-entropy of x_i against all (usable) y_j, label j = i."""
  x = x / np.linalg.norm(x, axis=1, keepdims=True)
  y = y / np.linalg.norm(y, axis=1, keepdims=True)
  rows = np.arange(len(x)) if rows is None else rows
  logits = x[rows] @ y[rows].T / temperature
  logits -= logits.max(axis=1, keepdims=True)
  log_probs = logits - np.log(np.exp(logits).sum(axis=1, keepdims=True))
  accuracy = np.mean(np.argmax(logits, axis=1) == np.arange(len(rows)))
  return -np.mean(np.diag(log_probs)), accuracy


@pytest.fixture
def views():
  rng = np.random.default_rng(0)
  x = rng.standard_normal([8, 5]).astype(np.float32)
  return x, (x + rng.normal(0, 0.8, x.shape)).astype(np.float32)


def test_one_way_info_nce_matches_numpy(views):
  x, y = views
  loss, accuracy = losses.info_nce(x, y, temperature=0.1)
  want, want_accuracy = numpy_info_nce(x, y, 0.1)
  np.testing.assert_allclose(loss.numpy(), want, rtol=1e-5)
  np.testing.assert_allclose(accuracy.numpy(), want_accuracy)
  other, _ = losses.info_nce(y, x, temperature=0.1)
  assert not np.isclose(other.numpy(), want)  # Directions differ.


def test_symmetric_is_the_mean_of_both_directions(views):
  x, y = views
  loss, _ = losses.pair_nce(x, y, temperature=0.3, symmetric=True)
  want = 0.5 * (numpy_info_nce(x, y, 0.3)[0] + numpy_info_nce(y, x, 0.3)[0])
  np.testing.assert_allclose(loss.numpy(), want, rtol=1e-5)
  one_way, _ = losses.pair_nce(x, y, temperature=0.3, symmetric=False)
  np.testing.assert_allclose(one_way.numpy(), numpy_info_nce(x, y, 0.3)[0],
                             rtol=1e-5)


def test_masked_examples_are_neither_anchors_nor_negatives(views):
  x, y = views
  mask = np.array([1, 0, 1, 1, 0, 1, 1, 1], np.float32)
  rows = np.flatnonzero(mask)
  for symmetric in (False, True):
    loss, accuracy = losses.pair_nce(x, y, 0.1, symmetric, mask=mask)
    forward = numpy_info_nce(x, y, 0.1, rows)
    backward = numpy_info_nce(y, x, 0.1, rows)
    want = forward if not symmetric else [
        0.5 * (a + b) for a, b in zip(forward, backward)]
    np.testing.assert_allclose(loss.numpy(), want[0], rtol=1e-5)
    np.testing.assert_allclose(accuracy.numpy(), want[1], rtol=1e-6)
  # Gradients reach only usable rows.
  x_var = tf.Variable(x)
  with tf.GradientTape() as tape:
    loss, _ = losses.info_nce(x_var, y, 0.1, mask=mask)
  gradient = tape.gradient(loss, x_var).numpy()
  assert np.all(gradient[mask == 0] == 0)
  assert np.all(np.abs(gradient[mask == 1]).sum(axis=1) > 0)


def test_all_masked_is_zero_not_nan(views):
  x, y = views
  loss, accuracy = losses.pair_nce(x, y, 0.1, mask=np.zeros([8], np.float32))
  assert loss.numpy() == 0 and accuracy.numpy() == 0


def test_the_loss_is_float32_for_half_precision_inputs(views):
  x, y = views
  loss, _ = losses.info_nce(tf.cast(x, tf.bfloat16), tf.cast(y, tf.float16))
  assert loss.dtype == tf.float32
