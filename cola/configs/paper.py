"""COLA as in the paper: EfficientNet-B0, batch 64, 100 epochs x 1000 steps.

  python -m cola.train --config=cola/configs/paper.py --data=tfds:NAME \
      --strategy=gpu --workdir=runs/cola-paper
"""

from cola.configs import default


def get_config():
  c = default.get_config()
  c.encoder = "efficientnet_b0"
  c.encoder_kwargs = dict(undo_input_rescaling=True)
  c.total_steps = 100_000
  c.steps_per_epoch = 1000
  return c
