"""`python -m common.evaluate`: downstream probes, fine-tuning and baselines
of a run or a SavedModel (the code is common/eval/evaluate.py)."""

from absl import app

from common.eval import evaluate
from common.io import command_help

if __name__ == "__main__":
  evaluate.define_flags()
  app.run(evaluate.main, flags_parser=command_help.parser(
      evaluate.__doc__, ["common.eval.evaluate"]))
