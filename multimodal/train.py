"""Multimodal audio-video pre-training.

  python -m multimodal.train                 # embedded default, CPU, minutes
  python -m multimodal.train --config=multimodal/configs/paper.py \
      --data=tfrecord:gs://BUCKET/prepared --strategy=tpu --tpu=NAME
  python -m multimodal.train --data=tfrecord:prepared/ --strategy=mirrored
"""

import os

from absl import app

from common.train import cli

_CONFIGS = os.path.join(os.path.dirname(__file__), "configs")

cli.define_train_flags(os.path.join(_CONFIGS, "default.py"),
                       "runs/multimodal")

if __name__ == "__main__":
  app.run(cli.run_training, flags_parser=cli.parse_flags)
