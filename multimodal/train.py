r"""Multimodal audio-video pre-training.

  python -m multimodal.train                 # embedded default, CPU, minutes
  python -m multimodal.train --config=multimodal/configs/paper.py \
      --data=tfrecord:gs://BUCKET/prepared --strategy=tpu --tpu=NAME
  python -m multimodal.train --data=tfrecord:prepared/ --strategy=mirrored
"""

from common.train import cli

cli.define_method_flags(__file__)

if __name__ == "__main__":
  cli.main()
