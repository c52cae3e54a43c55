"""COLA on the embedded default, and on your own audio, on a CPU.

  python -m cola.train                                  # synthetic, minutes
  python -m cola.train --data=files:/data/audio --workdir=runs/mine
  python -m cola.train --config=cola/configs/default.py --config.batch_size=128

The method is the paper's (two random 1 s crops of a clip, in-batch
negatives, one-way softmax cross-entropy); the recipe is the one measured
to learn on real audio in a CPU budget (docs/quality.md): the `audio_cnn`
encoder (frequency kept to the end, statistics pooled over time), each
window levelled to unit RMS and its log-mel standardised with the
training data's statistics (common/models/frontend.py), cosine similarity at
temperature 0.1, Adam 3e-4, and harder positives (example mixing, random
resized crops). `cola/configs/paper.py` is the paper's model and recipe.
"""

import ml_collections

from common.data import mixing
from common.models import mel_augment
from common.train import run_config


def get_config():
  # Seed, data, optimisation, checkpoints, precision, crops, frontend and
  # export windows: common/train/run_config.py (the README lists every value).
  c = run_config.base_config("cola")
  c.learning_rate = 3e-4      # Adam; 1e-3 undoes what random init gives
  c.total_steps = 400
  c.noise_stddev = 0.001      # Gaussian noise on the levelled positive
  # Harder positives: each anchor and positive mixes in a smaller share of
  # another crop of the batch; log-mels are randomly re-cropped in time
  # and frequency.
  c.mixing = mixing.mixing_config(
      enabled=True, modalities=("anchor", "positive"),
      partners="independent", match_level=("anchor", "positive"))
  c.random_resized_crop = mel_augment.random_resized_crop_config(
      enabled=True)
  # Model.
  c.encoder = "audio_cnn"     # see common/models/encoders.py
  c.encoder_kwargs = ml_collections.ConfigDict(dict(
      width=(16, 32, 64), blocks=3, dense_dim=1024, dense_layers=2,
      pooling="mean+max,std"))
  c.embedding_dim = 512       # projection head g size (not the encoder's D)
  c.similarity = "cosine"     # or bilinear (the paper's)
  c.temperature = 0.1         # cosine similarity only
  c.global_negatives = True   # False: each replica's own batch (authors' code)
  return c
