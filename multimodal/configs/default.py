"""Multimodal pre-training on the embedded default: minutes on a laptop CPU.

  python -m multimodal.train
  python -m multimodal.train --config=multimodal/configs/default.py \
      --config.mixing.enabled=False --config.pair_weights.wave_video=0

The method is the paper's (waveform, log-mel and video encoders; NCE over
every pair with the global batch as negatives; example mixing); the log-mel
encoder is COLA's default `audio_cnn` (the one exported), the waveform and
video encoders small CNNs (`waveform_tiny`, `video_small`), the video 32 px
at 8 frames per second, and the run short, so that it finishes on a CPU
(docs/quality.md has what it is worth on real audio).
multimodal/configs/paper.py has the large-scale sizes. docs/multimodal.md
explains every value and its reason.
"""

import ml_collections

from common.data import mixing
from common.models import mel_augment
from common.train import run_config


def get_config():
  # Seed, data, optimisation, checkpoints, precision, crop, log-mel and
  # export windows: common/train/run_config.py (docs/multimodal.md lists every
  # value).
  c = run_config.base_config("multimodal")
  c.learning_rate = 3e-4      # Adam
  c.total_steps = 400
  # Clips: an audio window and the frames of the same span.
  c.fps = 8.0                 # frames per second fed to the video encoder
  c.resolution = 32           # side of the square frames, px
  c.source_clip_seconds = 10.0  # files: media are cut into clips this long
  c.mel_crop = "independent"  # the log-mel's own window; or aligned
  # Encoders, by name (common/models/encoders.py and friends).
  c.mel_encoder = "audio_cnn"  # or tiny, efficientnet_b0, resnet50
  c.mel_encoder_kwargs = ml_collections.ConfigDict(dict(
      width=(16, 32, 64), blocks=3, dense_dim=1024, dense_layers=2,
      pooling="mean+max,std"))
  c.wave_encoder = "waveform_tiny"  # or waveform_cnn
  c.wave_encoder_kwargs = ml_collections.ConfigDict(dict(
      width=32, depth=3, embedding_dim=256))
  # video_small: video_tiny's convolutions with the temporal shift as a
  # fixed depthwise convolution and the projection after spatial pooling,
  # a third of its step (docs/multimodal.md); video_tiny (the default
  # before) and video_tsm (the paper config's TSM ResNet) are the others.
  c.video_encoder = "video_small"
  c.video_encoder_kwargs = ml_collections.ConfigDict(dict(
      width=16, depth=3, embedding_dim=256))
  # Heads and losses.
  c.head_hidden_dim = 512     # 0: a linear head
  c.embedding_dim = 128       # size of each pair's shared space
  c.pair_weights = ml_collections.ConfigDict(dict(
      wave_mel=1.0, wave_video=1.0, mel_video=1.0))  # 0 turns a pair off
  c.temperature = 0.1         # of the cosine similarity
  c.symmetric = True          # False: first -> second of each pair only
  c.global_negatives = True   # False: each replica's own batch
  # Each of waveform, log-mel window and frames mixes in its own partner:
  # with one shared partner, the two audio views would share its traces.
  c.mixing = mixing.mixing_config(
      modalities=("audio", "mel_audio", "frames"), partners="independent",
      match_level=("audio", "mel_audio"))
  # Log-mels randomly re-cropped in time and frequency (the mel side only).
  c.random_resized_crop = mel_augment.random_resized_crop_config(
      enabled=True)
  # Export.
  c.export_embedding = "mel"  # mel, wave or concat (both, concatenated)
  return c
