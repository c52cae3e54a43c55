"""A few steps of a very small BYOL model: for tests and smoke runs."""

from byol.configs import default
from common.train import run_config


def get_config():
  c = run_config.shrink_for_tests(default.get_config())
  c.encoder = "tiny"
  c.encoder_kwargs = dict(width=4, depth=2, embedding_dim=16)
  c.projector_hidden_dim = 32
  c.predictor_hidden_dim = 32
  c.projection_dim = 16
  return c
