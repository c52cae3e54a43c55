"""COLA on the embedded default: a complete run in minutes on a laptop CPU.

  python -m cola.train
  python -m cola.train --config=cola/configs/default.py --config.batch_size=128

The method is the paper's (bilinear similarity, in-batch negatives, 1 s
crops, Adam 1e-3); the encoder is the small `tiny` CNN and the run is short
so that it finishes on a CPU. `cola/configs/paper.py` has the paper's sizes.
"""

import ml_collections


def get_config():
  c = ml_collections.ConfigDict()
  c.method = "cola"
  c.seed = 0
  c.data = "synthetic"        # used when --data is not given
  # Optimisation.
  c.batch_size = 64           # global batch (anchors), split over replicas
  c.learning_rate = 1e-3      # Adam
  c.total_steps = 600
  c.steps_per_epoch = 100     # checkpoint, TensorBoard and log interval
  c.keep_checkpoints = 3
  c.jit_compile = False       # XLA for the train step
  c.mixed_precision = "float32"  # or mixed_float16 (GPU), mixed_bfloat16 (TPU)
  # Audio and crops.
  c.sample_rate = 16000
  c.crop_seconds = 1.0        # anchor and positive crop length
  c.noise_stddev = 0.001      # Gaussian noise added to the positive
  c.shuffle_buffer = 1024     # clips
  c.frontend = ml_collections.ConfigDict(dict(
      sample_rate=16000, window_length=400, hop_length=160, fft_length=1024,
      mel_bands=64, lower_hz=60.0, upper_hz=7800.0, log_floor=1e-5,
      log_ceiling=1e8, magnitude=True))
  # Model.
  c.encoder = "tiny"          # see common/encoders.py: tiny, efficientnet_b0
  c.encoder_kwargs = ml_collections.ConfigDict(dict(
      width=16, depth=4, embedding_dim=256))
  c.embedding_dim = 512       # projection head g size (not the encoder's D)
  c.similarity = "bilinear"   # or cosine
  c.temperature = 0.2         # cosine similarity only
  c.global_negatives = True   # False: each replica's own batch (authors' code)
  # Export.
  c.export_window_seconds = 1.0
  c.export_hop_seconds = 1.0
  return c
