r"""COLA pre-training.

  python -m cola.train                       # embedded default, CPU, minutes
  python -m cola.train --config=cola/configs/paper.py --data=tfds:NAME \
      --strategy=mirrored --workdir=runs/cola-paper
"""

from common.train import cli

cli.define_method_flags(__file__)

if __name__ == "__main__":
  cli.main()
