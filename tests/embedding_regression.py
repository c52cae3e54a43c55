"""The embedding regression fixture: what it holds and how it is made.

tests/fixtures/embedding_regression.npz holds the weights of the seed model
(COLA tiny from seed 0, seed_models.seed_model) by variable path, with its
batch-norm moving statistics set to fixed non-trivial values (at init they
are the identity, which would hide a change of inference-mode batch norm),
and the window embeddings the export path (common/export.EmbeddingModule)
gives for `inputs()`. Regenerate it only for an intended change of embeddings:

  python -m tests.embedding_regression
"""

import os

import numpy as np
import tensorflow as tf

from common.serve import export
from tests import seed_models

PATH = os.path.join(os.path.dirname(__file__), "fixtures",
                    "embedding_regression.npz")


def inputs():
  """Fixed clips from formulas (no RNG): [3, 40000] at 16 kHz (2.5 s: two
  windows and a dropped tail), and a 0.6 s clip (one padded window)."""
  t = np.arange(40000) / 16000.0
  chirp = 0.5 * np.sin(2 * np.pi * (200 * t + 800 * t**2))
  chord = 0.2 * sum(np.sin(2 * np.pi * f * t) for f in (220, 277, 330, 440))
  clicks = np.where((np.arange(40000) % 1600) < 40, 0.8, 0.0) * np.sin(
      2 * np.pi * 3000 * t)
  pseudo_noise = 0.3 * np.sin(1e4 * np.arange(40000)**1.3 / 7.0)
  clips = np.stack([chirp, chord + clicks, pseudo_noise]).astype(np.float32)
  short = (0.4 * np.sin(2 * np.pi * 500 * t[:9600])).astype(np.float32)
  return clips, short[np.newaxis]


def embeddings(model):
  """Window embeddings of `inputs()` through the export path."""
  module = export.EmbeddingModule(model.embedding_model())
  clips, short = inputs()
  return (module.embed_windows(tf.constant(clips))["embeddings"].numpy(),
          module.embed_windows(tf.constant(short))["embeddings"].numpy())


def weights(model):
  return {v.path: v.numpy() for v in model.weights}


def assign(model, stored):
  for v in model.weights:
    v.assign(stored[v.path])


def set_moving_statistics(model):
  """Fixed, non-trivial batch-norm moving means and variances, and log-mel
  standardisation statistics (at init all are the identity, which would
  hide a change of how they are applied)."""
  for i, v in enumerate(model.non_trainable_weights):
    phase = np.arange(int(np.prod(v.shape))).reshape(v.shape) + i
    if v.path.endswith("moving_mean"):
      v.assign(0.5 * np.sin(phase))
    elif v.path.endswith("moving_variance"):
      v.assign(1.0 + 0.5 * np.cos(phase)**2)
    elif v.path.endswith("standardize/mean"):
      v.assign(np.full(v.shape, -4.0))
    elif v.path.endswith("standardize/std"):
      v.assign(np.full(v.shape, 2.5))


def main():
  model = seed_models.seed_model(0)
  set_moving_statistics(model)
  clips, short = embeddings(model)
  arrays = {f"weight:{k}": v for k, v in weights(model).items()}
  np.savez_compressed(PATH, clips=clips, short=short, **arrays)
  print(f"wrote {PATH}: {clips.shape} + {short.shape} embeddings, "
        f"{len(arrays)} weights, {os.path.getsize(PATH)} bytes")


if __name__ == "__main__":
  main()
