"""COLA on the embedded default: a complete run in minutes on a laptop CPU.

  python -m cola.train
  python -m cola.train --config=cola/configs/default.py --config.batch_size=128

The method is the paper's (bilinear similarity, in-batch negatives, 1 s
crops, Adam 1e-3); the encoder is the small `tiny` CNN and the run is short
so that it finishes on a CPU. `cola/configs/paper.py` has the paper's sizes.
"""

import ml_collections

from common import run_config


def get_config():
  # Seed, data, optimisation, checkpoints, precision, crops, log-mel and
  # export windows: common/run_config.py (the README lists every value).
  c = run_config.base_config("cola")
  c.noise_stddev = 0.001      # Gaussian noise added to the positive
  # Model.
  c.encoder = "tiny"          # see common/encoders.py: tiny, efficientnet_b0
  c.encoder_kwargs = ml_collections.ConfigDict(dict(
      width=16, depth=4, embedding_dim=256))
  c.embedding_dim = 512       # projection head g size (not the encoder's D)
  c.similarity = "bilinear"   # or cosine
  c.temperature = 0.2         # cosine similarity only
  c.global_negatives = True   # False: each replica's own batch (authors' code)
  return c
