r"""BYOL for audio pre-training.

  python -m byol.train                       # embedded default, CPU, minutes
  python -m byol.train --data=files:/data/audio --workdir=runs/byol-mine
  python -m byol.train --config=byol/configs/paper.py --data=tfds:NAME \
      --strategy=mirrored --workdir=runs/byol-paper
"""

from absl import app

from common.train import cli

cli.define_method_flags(__file__)

if __name__ == "__main__":
  # app.run here, in __main__: called from inside cli, absl's INFO lines of
  # the run (strategy, resume) no longer reached stderr.
  app.run(cli.run_training, flags_parser=cli.parse_flags)
