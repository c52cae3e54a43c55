"""A few steps of a very small multimodal model: for tests and smoke runs."""

from multimodal.configs import default


def get_config():
  c = default.get_config()
  c.data = "synthetic:32"
  c.batch_size = 8
  c.total_steps = 4
  c.steps_per_epoch = 2
  c.fps = 4.0
  c.resolution = 16
  c.mel_encoder_kwargs = dict(width=4, depth=2, embedding_dim=16)
  c.wave_encoder_kwargs = dict(width=4, depth=2, embedding_dim=16)
  c.video_encoder_kwargs = dict(width=4, depth=2, embedding_dim=16)
  c.head_hidden_dim = 0
  c.embedding_dim = 16
  c.shuffle_buffer = 32
  return c
