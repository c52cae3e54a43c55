"""A few steps of a very small multimodal model: for tests and smoke runs."""

from common.train import run_config
from multimodal.configs import default


def get_config():
  c = run_config.shrink_for_tests(default.get_config())
  c.fps = 4.0
  c.resolution = 16
  c.mel_encoder = "tiny"
  c.mel_encoder_kwargs = dict(width=4, depth=2, embedding_dim=16)
  c.wave_encoder = "waveform_tiny"
  c.wave_encoder_kwargs = dict(width=4, depth=2, embedding_dim=16)
  c.video_encoder_kwargs = dict(width=4, depth=2, embedding_dim=16)
  c.head_hidden_dim = 0
  c.embedding_dim = 16
  return c
