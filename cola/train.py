"""COLA pre-training.

  python -m cola.train                       # embedded default, CPU, minutes
  python -m cola.train --config=cola/configs/paper.py --data=tfds:NAME \
      --strategy=mirrored --workdir=runs/cola-paper
"""

import os

from absl import app

from common.train import cli

_CONFIGS = os.path.join(os.path.dirname(__file__), "configs")

cli.define_train_flags(os.path.join(_CONFIGS, "default.py"), "runs/cola")

if __name__ == "__main__":
  app.run(cli.run_training, flags_parser=cli.parse_flags)
