r"""COLA pre-training.

  python -m cola.train                       # embedded default, CPU, minutes
  python -m cola.train --config=cola/configs/paper.py --data=tfds:NAME \
      --strategy=mirrored --workdir=runs/cola-paper
"""

from absl import app

from common.train import cli

cli.define_method_flags(__file__)

if __name__ == "__main__":
  # app.run here, in __main__: called from inside cli, absl's INFO lines of
  # the run (strategy, resume) no longer reached stderr.
  app.run(cli.run_training, flags_parser=cli.parse_flags)
