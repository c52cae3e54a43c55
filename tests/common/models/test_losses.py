"""Contrastive similarities and loss against plain numpy."""

import numpy as np
import pytest
import tensorflow as tf

from common.models import losses


def numpy_cross_entropy(logits, labels):
  logits = logits - logits.max(axis=1, keepdims=True)
  log_probs = logits - np.log(np.exp(logits).sum(axis=1, keepdims=True))
  return -log_probs[np.arange(len(labels)), labels].mean()


@pytest.fixture
def embeddings():
  rng = np.random.default_rng(0)
  return (rng.standard_normal([6, 5]).astype(np.float32),
          rng.standard_normal([6, 5]).astype(np.float32))


def test_bilinear_loss_matches_numpy(embeddings):
  anchors, positives = embeddings
  similarity = losses.BilinearSimilarity()
  logits, labels = losses.contrastive_logits(similarity, anchors, positives)
  w = similarity.kernel.numpy()
  want_logits = anchors @ w @ positives.T
  np.testing.assert_allclose(logits.numpy(), want_logits, rtol=1e-5,
                             atol=1e-5)
  np.testing.assert_array_equal(labels.numpy(), np.arange(6))
  got = losses.softmax_contrastive_loss(logits, labels).numpy()
  np.testing.assert_allclose(got, numpy_cross_entropy(want_logits,
                                                      np.arange(6)), rtol=1e-5)


def test_cosine_loss_matches_numpy(embeddings):
  anchors, positives = embeddings
  logits, labels = losses.contrastive_logits(
      losses.CosineSimilarity(temperature=0.2), anchors, positives)
  a = anchors / np.linalg.norm(anchors, axis=1, keepdims=True)
  p = positives / np.linalg.norm(positives, axis=1, keepdims=True)
  want_logits = a @ p.T / 0.2
  np.testing.assert_allclose(logits.numpy(), want_logits, rtol=1e-5,
                             atol=1e-5)
  np.testing.assert_allclose(
      losses.softmax_contrastive_loss(logits, labels).numpy(),
      numpy_cross_entropy(want_logits, np.arange(6)), rtol=1e-5)


def test_accuracy_counts_anchors_whose_positive_wins():
  logits = tf.constant([[3.0, 1.0], [5.0, 0.0]])
  assert losses.contrastive_accuracy(logits, tf.constant([0, 1])) == 0.5


def test_unknown_similarity_is_a_clear_error():
  with pytest.raises(ValueError, match="bilinear or cosine"):
    losses.build_similarity("dot")
