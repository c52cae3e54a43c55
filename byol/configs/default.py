"""BYOL for audio on the embedded default, and on your own audio, on a CPU.

  python -m byol.train                                  # synthetic, minutes
  python -m byol.train --data=files:/data/audio --workdir=runs/byol-mine
  python -m byol.train --config.ema_decay=0.996 --config.mixup_ratio=0.2

The method is BYOL-A's (one segment, two augmented views of its
standardised log-mel, an online network predicting an exponential moving
average target, no negatives); the sizes fit a CPU budget: COLA's default
`audio_cnn` encoder, projector and predictor of 1024 hidden units,
batch 64. `byol/configs/paper.py` has BYOL-A's sizes. docs/byol.md explains
every value and its reason.
"""

import ml_collections

from common.models import mel_augment
from common.train import run_config


def get_config():
  # Seed, data, optimisation, checkpoints, precision, crops, frontend and
  # export windows: common/train/run_config.py (the README lists every value).
  c = run_config.base_config("byol")
  c.learning_rate = 3e-4      # Adam (BYOL-A v1)
  c.total_steps = 400
  # Augmentations of each view (byol/augment.py, common/models/mel_augment.py).
  c.mixup_ratio = 0.4         # log-mixup-exp: another clip at r ~ U(0, 0.4)
  c.random_resized_crop = mel_augment.random_resized_crop_config(
      enabled=True)
  c.fader_gain = 1.0          # linear fade, ends ~ U(-1, 1) (log units)
  # Model.
  c.encoder = "audio_cnn"     # see common/models/encoders.py
  c.encoder_kwargs = ml_collections.ConfigDict(dict(
      width=(16, 32, 64), blocks=3, dense_dim=1024, dense_layers=2,
      pooling="mean+max,std"))
  c.projector_hidden_dim = 1024
  c.predictor_hidden_dim = 1024
  c.projection_dim = 256      # projector and predictor output (BYOL-A's)
  c.head_batch_norm = True    # BN in the projector and predictor MLPs
  c.ema_decay = 0.99          # target <- decay * target + (1 - decay) * online
  return c
