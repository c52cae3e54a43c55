"""The config values the training path itself reads, shared by every method.

common/training.py, common/export.py and the log-mel frontend read these;
each method's configs/default.py starts from `base_config(method)` and adds
its own values, so a value the training path understands is defined once.
"""

import ml_collections


def frontend_config():
  """The frontend (common/frontend.py): COLA's log-mel parameters, each
  window levelled to unit RMS, and log-mels standardised with statistics
  of the training data (the project's choices; paper_frontend_config()
  is the paper's)."""
  return ml_collections.ConfigDict(dict(
      sample_rate=16000, window_length=400, hop_length=160, fft_length=1024,
      mel_bands=64, lower_hz=60.0, upper_hz=7800.0, log_floor=1e-3,
      log_ceiling=1e8, magnitude=True, level="rms", min_rms=1e-4,
      standardize="global", standardize_examples=1024))


def paper_frontend_config():
  """COLA's frontend: each window at unit L2 norm (the paper normalises
  clips; a 1 s training crop is one window), log floor 1e-5, no
  standardisation."""
  c = frontend_config()
  c.update(dict(log_floor=1e-5, level="l2", standardize="none"))
  return c


def base_config(method):
  c = ml_collections.ConfigDict()
  c.method = method           # the package whose method.py plugs in
  c.seed = 0
  c.data = "synthetic"        # used when --data is not given
  # Optimisation.
  c.batch_size = 64           # global batch, split over replicas
  c.learning_rate = 1e-3      # Adam
  c.lr_schedule = "constant"  # or cosine (to 0 at total_steps)
  c.warmup_steps = 0          # cosine only: linear warm-up from 0
  c.total_steps = 600
  c.steps_per_epoch = 100     # checkpoint, TensorBoard and log interval
  c.keep_checkpoints = 3
  c.jit_compile = False       # XLA for the train step
  c.mixed_precision = "float32"  # or mixed_float16 (GPU), mixed_bfloat16 (TPU)
  # Audio.
  c.sample_rate = 16000
  c.crop_seconds = 1.0        # training crop = the SavedModel's window
  c.shuffle_buffer = 1024     # clips
  c.frontend = frontend_config()
  # Export (the SavedModel's windows).
  c.export_window_seconds = 1.0
  c.export_hop_seconds = 1.0
  return c


def shrink_for_tests(c):
  """A few steps of small batches on 32 synthetic clips: the run part of
  every method's configs/tiny.py."""
  c.data = "synthetic:32"
  c.batch_size = 8
  c.total_steps = 4
  c.steps_per_epoch = 2
  c.shuffle_buffer = 32
  return c
