"""The audio frontend: what turns a raw 16 kHz window into an encoder's input.

It runs inside the model, so the data pipeline only crops waveforms, and
training, evaluation and every exported form (SavedModel, TFLite, HEAR,
`common.embed`) compute the same thing from the same window:

  LevelNormalization   each window scaled to a fixed level (its own RMS),
                       so an embedding does not depend on the recording's
                       gain and a window is embedded the same way alone or
                       inside any clip, streamed or whole
  LogMelSpectrogram    tf.signal log-mel; defaults are COLA's exact
                       parameters: STFT window 400, hop 160, FFT 1024,
                       magnitude (not power), 64 mel bands from 60 to 7800
                       Hz (HTK mel scale, as tf.signal defines it),
                       log(clip(mel, 1e-5, 1e8)); 1 s gives 98 frames,
                       laid out (time, mel, 1)
  Standardization      (log-mel - mean) / std with statistics of the
                       training data, measured once when a run starts
                       (`adapt`) and stored as weights: in the checkpoint
                       and the SavedModel

Every layer's defaults reproduce the paper's frontend (no level layer, no
standardisation), so a config that does not name a value gets COLA's; the
project's own choices are values of common/run_config.frontend_config().
"""

import keras
import tensorflow as tf

# The Frontend layer's name: the ops it runs are named under it, which is how
# the int8 TFLite export finds the float island it must keep
# (common/serve/tflite.py).
NAME = "frontend"


def num_frames(num_samples, window_length=400, hop_length=160):
  """Frames the frontend produces for `num_samples` (no end padding)."""
  return max(0, 1 + (num_samples - window_length) // hop_length)


class LogMelSpectrogram(keras.layers.Layer):
  """[batch, samples] float waveform -> [batch, frames, mel_bands, 1]."""

  def __init__(self, sample_rate=16000, window_length=400, hop_length=160,
               fft_length=1024, mel_bands=64, lower_hz=60.0, upper_hz=7800.0,
               log_floor=1e-5, log_ceiling=1e8, magnitude=True, **kwargs):
    kwargs.setdefault("dtype", "float32")  # STFT and log stay in float32.
    super().__init__(**kwargs)
    self.sample_rate = sample_rate
    self.window_length = window_length
    self.hop_length = hop_length
    self.fft_length = fft_length
    self.mel_bands = mel_bands
    self.lower_hz = lower_hz
    self.upper_hz = upper_hz
    self.log_floor = log_floor
    self.log_ceiling = log_ceiling
    self.magnitude = magnitude
    self._mel_matrix = tf.signal.linear_to_mel_weight_matrix(
        num_mel_bins=mel_bands,
        num_spectrogram_bins=fft_length // 2 + 1,
        sample_rate=sample_rate,
        lower_edge_hertz=lower_hz,
        upper_edge_hertz=upper_hz)

  def call(self, waveform):
    waveform = tf.cast(waveform, tf.float32)
    stft = tf.signal.stft(
        waveform,
        frame_length=self.window_length,
        frame_step=self.hop_length,
        fft_length=self.fft_length,
        window_fn=tf.signal.hann_window,
        pad_end=False)
    spectrum = tf.abs(stft)
    if not self.magnitude:
      spectrum = tf.square(spectrum)
    mel = tf.tensordot(spectrum, self._mel_matrix, axes=1)
    log_mel = tf.math.log(
        tf.clip_by_value(mel, self.log_floor, self.log_ceiling))
    return log_mel[..., tf.newaxis]

  def compute_output_shape(self, input_shape):
    frames = None
    if input_shape[-1] is not None:
      frames = num_frames(input_shape[-1], self.window_length, self.hop_length)
    return (input_shape[0], frames, self.mel_bands, 1)

  def get_config(self):
    config = super().get_config()
    config.update(
        sample_rate=self.sample_rate, window_length=self.window_length,
        hop_length=self.hop_length, fft_length=self.fft_length,
        mel_bands=self.mel_bands, lower_hz=self.lower_hz,
        upper_hz=self.upper_hz, log_floor=self.log_floor,
        log_ceiling=self.log_ceiling, magnitude=self.magnitude)
    return config


LEVELS = ("none", "rms", "l2")
STANDARDIZATIONS = ("none", "global", "band")


def _choice(key, value, choices):
  if value not in choices:
    raise ValueError(f"{key}={value!r}: expected one of {', '.join(choices)}")
  return value


class LevelNormalization(keras.layers.Layer):
  """[batch, samples] -> the same windows, each scaled to a fixed level.

  `mode`: "rms" scales a window to unit RMS; "l2" to unit L2 norm (COLA's
  per-clip normalisation, applied to each window: identical for a 1 s
  clip); "none" passes the waveform through. A window quieter than
  `min_rms` (-80 dBFS by default) is scaled as if it had that RMS, so
  silence stays silence and near-silence is not blown up into loud noise.
  The RMS is measured on the window divided by its peak, so finite samples
  far beyond full scale do not overflow.
  """

  def __init__(self, mode="none", min_rms=1e-4, **kwargs):
    kwargs.setdefault("dtype", "float32")
    super().__init__(**kwargs)
    self.mode = _choice("frontend.level", mode, LEVELS)
    self.min_rms = min_rms

  def call(self, waveform):
    waveform = tf.cast(waveform, tf.float32)
    if self.mode == "none":
      return waveform
    peak = tf.reduce_max(tf.abs(waveform), axis=-1, keepdims=True)
    unit = waveform / tf.maximum(peak, 1e-30)
    rms = peak * tf.sqrt(tf.reduce_mean(tf.square(unit), -1, keepdims=True))
    # Divided, not multiplied by 1 / rms: near float32's maximum that
    # reciprocal is subnormal, which CPU kernels flush to zero.
    levelled = waveform / tf.maximum(rms, self.min_rms)
    if self.mode == "l2":
      levelled /= tf.sqrt(tf.cast(tf.shape(waveform)[-1], tf.float32))
    return levelled

  def get_config(self):
    config = super().get_config()
    config.update(mode=self.mode, min_rms=self.min_rms)
    return config


class Standardization(keras.layers.Layer):
  """(x - mean) / std of the training data's log-mels, stored as weights.

  `mode`: "global" (one mean and std, as BYOL-A), "band" (per mel band) or
  "none". The statistics are ordinary non-trainable variables, so a
  checkpoint restores them and a SavedModel traces them like any weight;
  `adapt` measures them. (Keras's Normalization layer keeps tensors derived
  from its variables that only `finalize_state` refreshes, which a restored
  checkpoint does not call.) Unadapted, it is the identity.
  """

  def __init__(self, mode="none", **kwargs):
    kwargs.setdefault("dtype", "float32")
    super().__init__(**kwargs)
    self.mode = _choice("frontend.standardize", mode, STANDARDIZATIONS)

  def build(self, input_shape):
    if self.mode != "none":
      shape = (input_shape[-2], 1) if self.mode == "band" else ()
      self.mean = self.add_weight(name="mean", shape=shape,
                                  initializer="zeros", trainable=False)
      self.std = self.add_weight(name="std", shape=shape,
                                 initializer="ones", trainable=False)
    self.built = True

  def adapt(self, log_mels):
    """Sets mean and std from log-mels [n, time, mel, 1]."""
    if self.mode == "none":
      return
    x = tf.cast(log_mels, tf.float64)
    axes = [0, 1, 3] if self.mode == "band" else None
    mean = tf.reduce_mean(x, axis=axes)
    std = tf.sqrt(tf.reduce_mean(tf.square(x - (
        tf.reshape(mean, [-1, 1]) if self.mode == "band" else mean)),
        axis=axes))
    shape = self.mean.shape
    self.mean.assign(tf.reshape(tf.cast(mean, tf.float32), shape))
    self.std.assign(tf.reshape(tf.cast(tf.maximum(std, 1e-3), tf.float32),
                               shape))

  def call(self, x):
    if self.mode == "none":
      return x
    return (tf.cast(x, tf.float32) - self.mean) / self.std

  def get_config(self):
    config = super().get_config()
    config.update(mode=self.mode)
    return config


class Frontend(keras.layers.Layer):
  """Waveform windows -> standardised log-mel: level, log-mel, statistics.

  A method that augments between the steps (COLA adds its positives' noise
  to the levelled waveform) calls `level` and `features` itself;
  `frontend(x)` is `features(level(x))`.
  """

  def __init__(self, level="none", min_rms=1e-4, standardize="none",
               **log_mel):
    super().__init__(dtype="float32", name=NAME)
    self.level = LevelNormalization(level, min_rms, name="level")
    self.log_mel = LogMelSpectrogram(**log_mel, name="log_mel")
    self.standardize = Standardization(standardize, name="standardize")
    # The statistics' shape is known now: built here, outside any model's
    # call, their variable paths ("standardize/mean") do not depend on how
    # many models the process has made.
    self.standardize.build((None, None, self.log_mel.mel_bands, 1))
    # Every step is built or weightless: built now, so that a model calling
    # only `level` and `features` (the exported embedding does) has every
    # layer built (Keras's fit checks each layer).
    self.built = True

  def build(self, input_shape):
    self.built = True

  def features(self, levelled):
    return self.standardize(self.log_mel(levelled))

  def call(self, waveform):
    return self.features(self.level(waveform))

  def adapt(self, waveforms):
    """Measures the standardisation on raw windows [n, samples]."""
    self.standardize.adapt(self.log_mel(self.level(waveforms)))

  def adapt_on_batches(self, batches, wanted):
    """`adapt` on the first `wanted` windows of an iterable of [batch,
    samples] tensors (a training pipeline's), reading no more of it."""
    if not wanted or self.standardize.mode == "none":
      return
    taken, count = [], 0
    for windows in batches:
      taken.append(windows)
      count += int(windows.shape[0])
      if count >= wanted:
        break
    self.adapt(tf.concat(taken, 0)[:wanted])

  def compute_output_shape(self, input_shape):
    return self.log_mel.compute_output_shape(input_shape)

  def output_shape_for(self, num_samples):
    """One window's log-mel shape (frames, mel_bands, 1): what a log-mel
    encoder for `num_samples`-sample windows takes."""
    return (num_frames(num_samples, self.log_mel.window_length,
                       self.log_mel.hop_length), self.log_mel.mel_bands, 1)


# Keys of the `frontend` config that are not LogMelSpectrogram arguments.
_FRONTEND_KEYS = ("level", "min_rms", "standardize", "standardize_examples")


def from_config(config):
  """Builds the Frontend from a `frontend` ConfigDict / dict (a key it
  does not name keeps the paper's behaviour)."""
  config = dict(config)
  config.pop("standardize_examples", None)
  return Frontend(**config)


def log_mel_config(config):
  """The LogMelSpectrogram arguments of a `frontend` config."""
  return {k: v for k, v in dict(config).items() if k not in _FRONTEND_KEYS}
