"""Multimodal audio-video contrastive model (after Wang, Luc, Recasens,
Alayrac & van den Oord, 2021).

Three encoders, each chosen by name: the raw waveform (1-D CNN), its log-mel
spectrogram (2-D CNN; the frontend runs in the model) and the low-resolution
frames of the same span (a video CNN with temporal shifts). For every pair
(waveform-log-mel, waveform-video, log-mel-video) with a non-zero weight,
each side has its own projection head into that pair's space, and an
InfoNCE loss (cosine similarity / temperature) scores every example against
the whole global batch (common/models/losses.py). The loss is the weighted sum
over pairs; each pair is one-way (first -> second) or symmetric.

Called on a waveform batch, the model returns the audio representation
that is exported: the log-mel encoder's h, the waveform encoder's, or both
concatenated (`export_embedding`).
"""

import keras
import tensorflow as tf

from common.data import waveform_ops
from common.models import encoders
from common.models import learner
from common.models import losses

MODALITIES = ("wave", "mel", "video")
PAIRS = (("wave", "mel"), ("wave", "video"), ("mel", "video"))
EXPORTS = ("mel", "wave", "concat")


def pair_name(pair):
  return "_".join(pair)


def active_pairs(config):
  """The pairs with a non-zero weight, in PAIRS order."""
  weights = dict(config.pair_weights)
  unknown = set(weights) - {pair_name(p) for p in PAIRS}
  if unknown:
    raise ValueError(f"pair_weights: unknown pairs {sorted(unknown)}; use "
                     f"{', '.join(pair_name(p) for p in PAIRS)}")
  pairs = [p for p in PAIRS if weights.get(pair_name(p), 0.0)]
  if not pairs:
    raise ValueError("pair_weights: every pair has weight 0")
  return pairs


class ProjectionHead(keras.layers.Layer):
  """h -> z: Dense-ReLU-Dense (SimCLR's head), or one Dense without
  a hidden size."""

  def __init__(self, hidden_dim, output_dim, **kwargs):
    super().__init__(**kwargs)
    self.hidden = (keras.layers.Dense(hidden_dim, activation="relu",
                                      name="hidden") if hidden_dim else None)
    self.output_layer = keras.layers.Dense(output_dim, name="output")

  def call(self, h):
    if self.hidden is not None:
      h = self.hidden(h)
    return self.output_layer(h)


class Multimodal(learner.Learner):
  """Waveform [batch, samples] -> audio embedding h [batch, D].

  Trains on batches {"audio": [n, samples], "frames": uint8 [n, F, R, R,
  3], "has_video": [n]} (multimodal/data.py).
  """

  def __init__(self, config, **kwargs):
    if config.export_embedding not in EXPORTS:
      raise ValueError(f"export_embedding={config.export_embedding!r}: "
                       f"expected one of {', '.join(EXPORTS)}")
    pairs = active_pairs(config)
    super().__init__(config, ["loss"] + [
        f"{pair_name(pair)}_{value}" for pair in pairs
        for value in ("loss", "accuracy")], **kwargs)
    self.pairs = pairs
    used = {m for p in self.pairs for m in p}
    if config.export_embedding in ("mel", "concat"):
      used.add("mel")
    if config.export_embedding in ("wave", "concat"):
      used.add("wave")
    self.crop_frames = waveform_ops.seconds_to_samples(config.crop_seconds,
                                                       config.fps)
    # Only the encoders some loss or the export uses are built.
    self.mel_encoder = self.wave_encoder = self.video_encoder = None
    if "mel" in used:
      self.mel_encoder = encoders.build(
          config.mel_encoder, self.log_mel_shape,
          **config.mel_encoder_kwargs)
    if "wave" in used:
      self.wave_encoder = encoders.build(
          config.wave_encoder, (self.crop_samples,),
          **config.wave_encoder_kwargs)
    if "video" in used:
      self.video_encoder = encoders.build(
          config.video_encoder,
          (self.crop_frames, config.resolution, config.resolution, 3),
          **config.video_encoder_kwargs)
    # Keyed "<pair>/<modality>", e.g. "wave_video/video".
    self.heads = {
        f"{pair_name(pair)}/{m}": ProjectionHead(
            config.head_hidden_dim, config.embedding_dim,
            name=f"head_{pair_name(pair)}_{m}")
        for pair in self.pairs for m in pair}

  def embedding_encoders(self):
    export = self.config.export_embedding
    return (self.mel_encoder if export in ("mel", "concat") else None,
            self.wave_encoder if export in ("wave", "concat") else None)

  def example_batch(self):
    size = self.config.resolution
    return {"audio": tf.zeros([2, self.crop_samples]),
            "frames": tf.zeros([2, self.crop_frames, size, size, 3],
                               tf.uint8),
            "has_video": tf.ones([2])}

  def adapt_waveforms(self, batch):
    return batch["audio"]

  def encode_audio(self, waveform, formats, training=False):
    """{"wave"|"mel": h} for `formats`: both audio encoders see the
    waveform after the frontend's level step (common/models/frontend.py); in
    training, log-mels are randomly re-cropped when the config asks."""
    levelled = self.frontend.level(waveform)
    h = {}
    if "wave" in formats:
      h["wave"] = self.wave_encoder(levelled, training=training)
    if "mel" in formats:
      log_mels = self.augment_log_mels(self.frontend.features(levelled),
                                       training)
      h["mel"] = self.mel_encoder(log_mels, training=training)
    return h

  def encode(self, batch, training=False):
    """Every modality the losses use: {"wave"|"mel"|"video": h}."""
    used = {m for p in self.pairs for m in p}
    if "mel_audio" in batch and "mel" in used:
      # mel_crop="independent": the log-mel side has its own window.
      h = self.encode_audio(batch["audio"], used - {"mel"}, training)
      h.update(self.encode_audio(batch["mel_audio"], {"mel"}, training))
    else:
      h = self.encode_audio(batch["audio"], used, training)
    if "video" in used:
      h["video"] = self.video_encoder(
          tf.cast(batch["frames"], tf.float32), training=training)
    return h

  def loss_step(self, batch, training):
    """Weighted loss (this replica's, unscaled) and each pair's loss and
    accuracy ("wave_mel_loss", "wave_mel_accuracy", ...)."""
    h = self.encode(batch, training)
    weights = dict(self.config.pair_weights)
    total = 0.0
    values = {}
    for pair in self.pairs:
      first, second = pair
      name = pair_name(pair)
      z_first = self.heads[f"{name}/{first}"](h[first], training=training)
      z_second = self.heads[f"{name}/{second}"](h[second], training=training)
      mask = batch["has_video"] if "video" in pair else None
      loss, accuracy = losses.pair_nce(
          z_first, z_second, self.config.temperature, self.config.symmetric,
          self.config.global_negatives, mask)
      values[f"{name}_loss"], values[f"{name}_accuracy"] = loss, accuracy
      total += weights[name] * loss
    return total, values
