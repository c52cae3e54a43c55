"""BYOL for audio pre-training.

  python -m byol.train                       # embedded default, CPU, minutes
  python -m byol.train --data=files:/data/audio --workdir=runs/byol-mine
  python -m byol.train --config=byol/configs/paper.py --data=tfds:NAME \
      --strategy=mirrored --workdir=runs/byol-paper
"""

import os

from absl import app

from common.train import cli

_CONFIGS = os.path.join(os.path.dirname(__file__), "configs")

cli.define_train_flags(os.path.join(_CONFIGS, "default.py"), "runs/byol")

if __name__ == "__main__":
  app.run(cli.run_training, flags_parser=cli.parse_flags)
