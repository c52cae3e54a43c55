r"""Multimodal audio-video pre-training.

  python -m multimodal.train                 # embedded default, CPU, minutes
  python -m multimodal.train --config=multimodal/configs/paper.py \
      --data=tfrecord:gs://BUCKET/prepared --strategy=tpu --tpu=NAME
  python -m multimodal.train --data=tfrecord:prepared/ --strategy=mirrored
"""

from absl import app

from common.train import cli

cli.define_method_flags(__file__)

if __name__ == "__main__":
  # app.run here, in __main__: called from inside cli, absl's INFO lines of
  # the run (strategy, resume) no longer reached stderr.
  app.run(cli.run_training, flags_parser=cli.parse_flags)
