"""Embedding regression: a fixed seed model on fixed inputs must give the
stored embeddings, so that an upgrade of TensorFlow, Keras or NumPy that
silently changes what the exported model computes fails CI.

Tolerance 1e-4 absolute on embeddings of magnitude ~0.1 to 1: float32
kernels on another CPU (AVX2 vs AVX-512 oneDNN paths) move them by ~1e-6;
any change of the log-mel, padding, windows, convolutions, batch norm or
pooling moves them by 1e-2 or more. Regenerate after an intended change
with `python -m tests.embedding_regression` (tests/embedding_regression.py).
"""

import numpy as np
import pytest
import tensorflow as tf

from common.serve import export
from tests import embedding_regression
from tests import seed_models

TOLERANCE = 1e-4


@pytest.fixture(scope="module")
def stored():
  return dict(np.load(embedding_regression.PATH))


def stored_weights(stored):
  return {k[len("weight:"):]: v for k, v in stored.items()
          if k.startswith("weight:")}


def test_stored_weights_give_the_stored_embeddings(stored):
  model = seed_models.seed_model(0)
  weights = stored_weights(stored)
  assert sorted(weights) == sorted(v.path for v in model.weights)
  embedding_regression.assign(model, weights)
  clips, short = embedding_regression.embeddings(model)
  np.testing.assert_allclose(clips, stored["clips"], atol=TOLERANCE, rtol=0)
  np.testing.assert_allclose(short, stored["short"], atol=TOLERANCE, rtol=0)


def test_the_exported_saved_model_gives_the_stored_embeddings(stored,
                                                              tmp_path):
  model = seed_models.seed_model(0)
  embedding_regression.assign(model, stored_weights(stored))
  path = export.export_saved_model(model.embedding_model(),
                                   str(tmp_path / "saved_model"))
  serve = tf.saved_model.load(path).signatures["serving_default"]
  clips, _ = embedding_regression.inputs()
  got = serve(waveform=tf.constant(clips))["embedding"].numpy()
  np.testing.assert_allclose(got, stored["clips"].mean(axis=1),
                             atol=TOLERANCE, rtol=0)


def test_the_seed_model_is_rebuilt_from_code(stored):
  """Keras's initialisers under a seed still draw the stored weights (if
  this alone fails, initialisation changed, not the computation)."""
  model = seed_models.seed_model(0)
  weights = stored_weights(stored)
  for v in model.trainable_weights:
    np.testing.assert_allclose(v.numpy(), weights[v.path], atol=1e-6,
                               err_msg=v.path)
