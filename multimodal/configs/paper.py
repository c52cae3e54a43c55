"""Multimodal pre-training at scale: the encoder family and batch sizes of
the paper's setting (the abstract settles the method, not these numbers;
docs/multimodal.md says what is our choice).

  python -m multimodal.train --config=multimodal/configs/paper.py \
      --data=tfrecord:gs://BUCKET/audioset/prepared --strategy=tpu \
      --tpu=NAME --config.mixed_precision=mixed_bfloat16 \
      --workdir=gs://BUCKET/runs/multimodal
"""

from multimodal.configs import default


def get_config():
  c = default.get_config()
  c.data = "tfrecord:prepared"  # shards from `python -m multimodal.prepare`
  c.batch_size = 1024           # global; negatives come from all of it
  c.total_steps = 100_000
  c.steps_per_epoch = 1000
  c.shuffle_buffer = 8192
  c.mel_encoder = "efficientnet_b0"
  c.mel_encoder_kwargs = dict(undo_input_rescaling=True)
  c.wave_encoder = "waveform_cnn"
  c.wave_encoder_kwargs = dict(width=64, strides=(5, 4, 4, 4, 2), blocks=1,
                               max_width=512)
  c.video_encoder = "video_tsm"  # a TSM ResNet-18 at 32 px, 8 frames
  c.video_encoder_kwargs = dict(width=64, blocks=(2, 2, 2, 2))
  return c
