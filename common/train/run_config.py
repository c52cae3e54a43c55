"""The config values the training path itself reads, shared by every method.

common/train/trainer.py, common/serve/export.py and the log-mel frontend read these;
each method's configs/default.py starts from `base_config(method)` and adds
its own values, so a value the training path understands is defined once.
"""

import ml_collections

from common.io import audio_io
from common.models import encoders


def frontend_config():
  """The frontend (common/models/frontend.py): COLA's log-mel parameters, each
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
  c.method = method           # a package with a method.py, or a module path
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
  c.jit_compile = False       # XLA for the whole train step (TPUs need it)
  c.steps_per_execution = 1   # train steps per call into TensorFlow
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


class ConfigError(ValueError):
  """A config value the run cannot work with."""


def _positive_int(config, key):
  value = config.get(key)
  if isinstance(value, bool) or not isinstance(value, int) or value < 1:
    raise ConfigError(f"config {key}={value!r}: must be a whole number >= 1")


def _positive_float(config, key):
  value = config.get(key)
  if isinstance(value, bool) or not isinstance(value, (int, float)) or not (
      0 < value < float("inf")):
    raise ConfigError(f"config {key}={value!r}: must be a number > 0")


PRECISIONS = ("float32", "mixed_float16", "mixed_bfloat16")


def check(config, replicas=None):
  """Refuses values of the shared keys that cannot work, before any work
  starts: one ConfigError naming the key and what it allows. With
  `replicas`, also that the global batch splits evenly between them.
  (Whether the encoder takes the export window is checked on the built
  model: common/train/trainer.py.)"""
  for key in ("batch_size", "steps_per_epoch", "keep_checkpoints",
              "sample_rate", "shuffle_buffer"):
    _positive_int(config, key)
  per_call = config.get("steps_per_execution", 1)
  if isinstance(per_call, bool) or not isinstance(per_call, int) or (
      per_call < 1 or config.steps_per_epoch % per_call):
    raise ConfigError(
        f"config steps_per_execution={per_call!r}: must be a whole number "
        f">= 1 that divides steps_per_epoch={config.steps_per_epoch} (an "
        "epoch's logs and checkpoint come after whole calls)")
  total = config.get("total_steps")
  if isinstance(total, bool) or not isinstance(total, int) or total < 0:
    raise ConfigError(f"config total_steps={total!r}: must be a whole "
                      "number >= 0 (0 exports the initialised model)")
  if total % config.steps_per_epoch:
    # Keras trains whole epochs: 5 steps at 2 per epoch used to train 6.
    raise ConfigError(
        f"config total_steps={total} is not a whole number of epochs of "
        f"steps_per_epoch={config.steps_per_epoch} (a run trains and "
        "checkpoints whole epochs); use total_steps="
        f"{-(-total // config.steps_per_epoch) * config.steps_per_epoch} or "
        f"a steps_per_epoch that divides {total}")
  for key in ("learning_rate", "crop_seconds", "export_window_seconds"):
    _positive_float(config, key)
  if config.get("export_hop_seconds") is not None:
    _positive_float(config, "export_hop_seconds")
  warmup = config.get("warmup_steps", 0)
  if isinstance(warmup, bool) or not isinstance(warmup, int) or warmup < 0 or (
      warmup and warmup >= total):
    raise ConfigError(f"config warmup_steps={warmup!r}: must be a whole "
                      f"number from 0 to total_steps - 1 "
                      f"({config.total_steps - 1})")
  if config.get("mixed_precision", "float32") not in PRECISIONS:
    raise ConfigError(f"config mixed_precision={config.mixed_precision!r}: "
                      f"one of {', '.join(PRECISIONS)}")
  _check_sample_rate(config)
  _check_encoders(config)
  if replicas and config.batch_size % replicas:
    raise ConfigError(
        f"config batch_size={config.batch_size} cannot be split between "
        f"{replicas} replicas; use a multiple of {replicas}")


def _check_sample_rate(config):
  """One sample rate: the data sources resample every input to
  audio_io.SAMPLE_RATE, and the frontend's mel filters and the SavedModel's
  stored rate must say the same (a config that claims another rate would
  train on 16 kHz audio and write its claim into the SavedModel)."""
  rate = config.sample_rate
  if rate != audio_io.SAMPLE_RATE:
    raise ConfigError(
        f"config sample_rate={rate}: the data sources resample every input "
        f"to {audio_io.SAMPLE_RATE} Hz, so sample_rate must be "
        f"{audio_io.SAMPLE_RATE}")
  frontend_rate = config.get("frontend", {}).get("sample_rate", rate)
  if frontend_rate != rate:
    raise ConfigError(
        f"config frontend.sample_rate={frontend_rate} differs from "
        f"sample_rate={rate}: they must be the same")


def _check_encoders(config):
  """Each encoder a config names (`encoder`, `mel_encoder`, ...) exists and
  takes every option of its `*_kwargs`."""
  for key in sorted(config.keys()):
    name = config.get(key)
    if not key.endswith("encoder") or not isinstance(name, str) or not name:
      continue
    kwargs = config.get(f"{key}_kwargs") or {}
    try:
      encoders.check_options(name, dict(kwargs))
    except ValueError as e:
      raise ConfigError(f"config {key}={name!r}: {e}") from None
