"""BYOL-A's public config (config.yaml of nttcslab/byol-a, v1): 0.95 s
segments, STFT window 1024 and hop 160, 64 mel bands 60-7800 Hz, the
encoder with 64 channels and 2048-d per-frame layers, mean+max pooling,
projector and predictor of 4096 hidden units and 256 outputs, batch 256,
Adam 3e-4, EMA 0.99, 100 epochs of AudioSet.

  python -m byol.train --config=byol/configs/paper.py --data=tfds:NAME \
      --strategy=mirrored --workdir=runs/byol-paper
"""

import ml_collections

from byol.configs import default


def get_config():
  c = default.get_config()
  c.crop_seconds = c.export_window_seconds = c.export_hop_seconds = 0.95
  c.frontend.window_length = 1024
  c.frontend.fft_length = 1024
  c.encoder_kwargs = ml_collections.ConfigDict(dict(
      width=64, blocks=3, dense_dim=2048, dense_layers=2, pooling="mean+max"))
  c.projector_hidden_dim = 4096
  c.predictor_hidden_dim = 4096
  c.batch_size = 256
  c.fader_gain = 0.0          # v1 has no fader (v2 does)
  c.total_steps = 100_000
  c.steps_per_epoch = 1000
  return c
