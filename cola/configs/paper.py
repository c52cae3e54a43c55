"""COLA as in the paper: EfficientNet-B0, bilinear similarity, Adam 1e-3,
batch 64, 100 epochs x 1000 steps, clips at unit L2 norm, no other
augmentation than the positive's noise.

  python -m cola.train --config=cola/configs/paper.py --data=tfds:NAME \
      --strategy=gpu --workdir=runs/cola-paper
"""

from cola.configs import default
from common.train import run_config


def get_config():
  c = default.get_config()
  c.frontend = run_config.paper_frontend_config()
  c.learning_rate = 1e-3
  c.mixing.enabled = False
  c.random_resized_crop.enabled = False
  c.encoder = "efficientnet_b0"
  c.encoder_kwargs = dict(undo_input_rescaling=True)
  c.similarity = "bilinear"
  c.temperature = 0.2
  c.total_steps = 100_000
  c.steps_per_epoch = 1000
  return c
