"""What a method exports: the frontend and the encoder(s) that embed audio.

`AudioEmbedding` maps waveform windows [n, samples] to embeddings [n, D].
It holds only the frontend and the encoders the embedding reads (a log-mel
encoder on the frontend's output, and/or a waveform encoder on the
levelled waveform, concatenated in that order), never a projection head,
a predictor, a target network or an encoder the embedding does not use:
those stay in the training model (common/models/learner.py), so neither
the SavedModel, nor TFLite, nor the Keras layer carries them.

It is a keras.Model (so it saves and loads its own weights) that is never
compiled and tracks no metric, so that inside a user's model it reports
nothing of its own (a training model's loss tracker would shadow the
user's `loss`).
"""

from typing import Optional

import keras
import tensorflow as tf


class AudioEmbedding(keras.Model):
  """Waveform windows [n, samples] -> [n, D]: the exported encoder.

  Args:
    frontend: the method's Frontend (common/models/frontend.py).
    mel_encoder: a Keras model on the frontend's log-mels, or None.
    wave_encoder: a Keras model on the levelled waveform, or None.
  """

  def __init__(self, frontend, mel_encoder: Optional[keras.Model] = None,
               wave_encoder: Optional[keras.Model] = None, **kwargs):
    kwargs.setdefault("name", "audio_embedding")
    super().__init__(**kwargs)
    if mel_encoder is None and wave_encoder is None:
      raise ValueError("AudioEmbedding needs a log-mel or a waveform encoder")
    self.frontend = frontend
    self.mel_encoder = mel_encoder
    self.wave_encoder = wave_encoder
    self.built = True  # Every part builds on its own first call.

  def call(self, waveform, training=False):
    return embed(self.frontend, self.mel_encoder, self.wave_encoder,
                 waveform, training)


def embed(frontend, mel_encoder, wave_encoder, waveform, training=False):
  """The embedding of AudioEmbedding, as a function: the training model
  calls it in its own scope, so its variables are named as before."""
  # The frontend's ops are named under its name, as when it is called
  # whole: the int8 TFLite export keeps them in float by that name.
  with tf.name_scope(frontend.name):
    levelled = frontend.level(waveform)
    log_mels = frontend.features(levelled) if mel_encoder is not None else None
  parts = []
  if mel_encoder is not None:
    parts.append(mel_encoder(log_mels, training=training))
  if wave_encoder is not None:
    parts.append(wave_encoder(levelled, training=training))
  return parts[0] if len(parts) == 1 else tf.concat(parts, -1)
