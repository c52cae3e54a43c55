"""Log-mel spectrogram frontend as a batched Keras layer on tf.signal.

It runs inside the model, so the data pipeline only crops waveforms and an
exported model takes raw 16 kHz audio. Defaults are COLA's exact parameters:
STFT window 400, hop 160, FFT 1024, magnitude (not power), 64 mel bands from
60 to 7800 Hz (HTK mel scale, as tf.signal defines it), log(clip(mel, 1e-5,
1e8)). One second gives 98 frames; output layout is (time, mel, 1).
"""

import keras
import tensorflow as tf


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


def from_config(config):
  """Builds the frontend from a `frontend` ConfigDict / dict."""
  return LogMelSpectrogram(**dict(config))
