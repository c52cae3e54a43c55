"""Video encoders for low-resolution frames: [batch, T, H, W, 3] -> [batch, D].

Temporal modelling the cheap way, after TSM (Lin, Gan & Han, 2019): frames go
through 2-D convolutions as one big batch, and before each convolution a
share of the channels is shifted one frame forward in time and another share
one frame back, so information moves between neighbouring frames at no
FLOP cost. Pixels come in [0, 255] (uint8 frames cast to float).

Two forms of the same shift: `TemporalShift` slices and concatenates the
channel axis (the innermost one), which on a CPU costs as much as a
convolution (forward and backward); `TemporalShiftConv` computes the same
values as one depthwise convolution over time with a fixed 3-tap kernel,
at about a tenth of that cost. `video_tsm` and `video_tiny` keep the
first (their weights and outputs are unchanged); `video_small`, the CPU
default, uses the second.
"""

import numpy as np

import keras
import tensorflow as tf

from common.models import registry


class FoldFrames(keras.layers.Layer):
  """[batch, T, H, W, C] -> [batch * T, H, W, C]."""

  def call(self, x):
    shape = tf.shape(x)
    return tf.reshape(x, tf.concat([[-1], shape[2:]], 0))

  def compute_output_shape(self, input_shape):
    return (None,) + tuple(input_shape[2:])


class UnfoldFrames(keras.layers.Layer):
  """[batch * T, ...] -> [batch, T, ...]."""

  def __init__(self, frames, **kwargs):
    super().__init__(**kwargs)
    self.frames = frames

  def call(self, x):
    shape = tf.shape(x)
    return tf.reshape(x, tf.concat([[-1, self.frames], shape[1:]], 0))

  def compute_output_shape(self, input_shape):
    return (None, self.frames) + tuple(input_shape[1:])

  def get_config(self):
    return {**super().get_config(), "frames": self.frames}


class TemporalShift(keras.layers.Layer):
  """Shifts `fraction` of the channels (at least one) one frame back in time
  and as many one frame forward (zeros where a shift runs off the clip), on
  folded [batch * T, H, W, C] activations."""

  def __init__(self, frames, fraction=0.125, **kwargs):
    super().__init__(**kwargs)
    self.frames = frames
    self.fraction = fraction

  def call(self, x):
    channels = x.shape[-1]
    share = max(1, int(channels * self.fraction)) if self.fraction else 0
    if share == 0 or self.frames < 2 or 2 * share > channels:
      return x
    shape = tf.shape(x)
    x = tf.reshape(x, tf.concat([[-1, self.frames], shape[1:]], 0))
    pad = tf.zeros_like(x[:, :1, ..., :share])
    from_next = tf.concat([x[:, 1:, ..., :share], pad], 1)
    from_previous = tf.concat([pad, x[:, :-1, ..., share:2 * share]], 1)
    x = tf.concat([from_next, from_previous, x[..., 2 * share:]], -1)
    return tf.reshape(x, shape)

  def compute_output_shape(self, input_shape):
    return input_shape

  def get_config(self):
    return {**super().get_config(), "frames": self.frames,
            "fraction": self.fraction}


class TemporalShiftConv(keras.layers.Layer):
  """TemporalShift's function (the same channels, the same zeros at the
  clip's ends) as one depthwise convolution over time with a fixed,
  untrained kernel: on folded [batch * T, H, W, C] activations viewed as
  [batch, T, H * W, C], channel c's output at frame t is
  k[0, c] x[t - 1] + k[1, c] x[t] + k[2, c] x[t + 1], with k one-hot
  (from the next frame for the first share of the channels, from the
  previous one for the second share, itself for the rest). No slicing of
  the channel axis, and its gradient is the same convolution's."""

  def __init__(self, frames, fraction=0.125, **kwargs):
    super().__init__(**kwargs)
    self.frames = frames
    self.fraction = fraction

  def kernel(self, channels):
    """[3, 1, channels, 1] depthwise kernel, or None for no shift."""
    share = max(1, int(channels * self.fraction)) if self.fraction else 0
    if share == 0 or self.frames < 2 or 2 * share > channels:
      return None
    k = np.zeros([3, 1, channels, 1], np.float32)
    k[2, 0, :share] = 1.0            # from the next frame
    k[0, 0, share:2 * share] = 1.0   # from the previous frame
    k[1, 0, 2 * share:] = 1.0        # unshifted
    return k

  def call(self, x):
    channels = x.shape[-1]
    k = self.kernel(channels)
    if k is None:
      return x
    shape = tf.shape(x)
    clips = tf.reshape(
        x, tf.stack([-1, self.frames, shape[1] * shape[2], channels]))
    y = tf.nn.depthwise_conv2d(clips, tf.constant(k, dtype=x.dtype),
                               strides=[1, 1, 1, 1], padding="SAME")
    return tf.reshape(y, shape)

  def compute_output_shape(self, input_shape):
    return input_shape

  def get_config(self):
    return {**super().get_config(), "frames": self.frames,
            "fraction": self.fraction}


def _norm(x, batch_norm, name):
  return keras.layers.BatchNormalization(name=name)(x) if batch_norm else x


def _conv(x, channels, stride, batch_norm, name, kernel=3):
  return keras.layers.Conv2D(channels, kernel, strides=stride, padding="same",
                             use_bias=not batch_norm, name=name)(x)


def _pool_clip(x, frames, embedding_dim, pooling):
  """Folded feature maps -> one vector per clip (space, then time)."""
  if embedding_dim:
    x = keras.layers.Conv2D(embedding_dim, 1, name="project")(x)
  spatial = (keras.layers.GlobalMaxPooling2D if pooling == "max"
             else keras.layers.GlobalAveragePooling2D)
  x = UnfoldFrames(frames, name="unfold")(spatial(name="pool_space")(x))
  temporal = (keras.layers.GlobalMaxPooling1D if pooling == "max"
              else keras.layers.GlobalAveragePooling1D)
  return temporal(name="pool_time")(x)


@registry.ENCODERS.register("video_tsm")
def video_tsm(input_shape, width=64, blocks=(2, 2, 2, 2), stem_stride=1,
              shift_fraction=0.125, embedding_dim=None, pooling="avg",
              batch_norm=True):
  """A TSM ResNet of basic blocks (the default `blocks` is ResNet-18's):
  stage i has width x 2^i channels and halves the resolution (from stage
  1 on); each block shifts in time before its first convolution.

  `stem_stride=1` keeps the full (low) resolution in the stem: at 32 px a
  ResNet's stride-4 stem would leave 8 x 8 pixels to the first stage.
  """
  frames = input_shape[0]
  inputs = keras.Input(input_shape, name="frames")
  x = keras.layers.Rescaling(1 / 127.5, offset=-1.0, name="pixels")(inputs)
  x = FoldFrames(name="fold")(x)
  x = keras.layers.ReLU(name="stem_relu")(_norm(
      _conv(x, width, stem_stride, batch_norm, "stem_conv"), batch_norm,
      "stem_bn"))
  for i, count in enumerate(blocks):
    channels = width * 2**i
    for j in range(count):
      name = f"stage{i}_block{j}"
      stride = 2 if i > 0 and j == 0 else 1
      y = TemporalShift(frames, shift_fraction, name=f"{name}_shift")(x)
      y = keras.layers.ReLU(name=f"{name}_relu1")(_norm(
          _conv(y, channels, stride, batch_norm, f"{name}_conv1"), batch_norm,
          f"{name}_bn1"))
      y = _norm(_conv(y, channels, 1, batch_norm, f"{name}_conv2"),
                batch_norm, f"{name}_bn2")
      if stride != 1 or x.shape[-1] != channels:
        x = _norm(_conv(x, channels, stride, batch_norm, f"{name}_down", 1),
                  batch_norm, f"{name}_down_bn")
      x = keras.layers.ReLU(name=f"{name}_relu2")(
          keras.layers.Add(name=f"{name}_add")([x, y]))
  outputs = _pool_clip(x, frames, embedding_dim, pooling)
  return keras.Model(inputs, outputs, name="video_tsm")


def _shifted_convs(inputs, shift, width, depth, shift_fraction, batch_norm):
  """video_tiny's and video_small's trunk on [batch, T, H, W, 3] frames:
  pixels to [-1, 1], frames folded into the batch, `depth` stride-2
  Conv3x3-BN-ReLU blocks doubling channels from `width`, each after the
  first preceded by the `shift` layer (TemporalShift or its convolution)."""
  frames = inputs.shape[1]
  x = keras.layers.Rescaling(1 / 127.5, offset=-1.0, name="pixels")(inputs)
  x = FoldFrames(name="fold")(x)
  for i in range(depth):
    if i:
      x = shift(frames, shift_fraction, name=f"shift{i}")(x)
    x = keras.layers.ReLU(name=f"relu{i}")(_norm(
        _conv(x, width * 2**i, 2, batch_norm, f"conv{i}"), batch_norm,
        f"bn{i}"))
  return x


@registry.ENCODERS.register("video_tiny")
def video_tiny(input_shape, width=16, depth=3, embedding_dim=256,
               shift_fraction=0.125, pooling="max", batch_norm=True):
  """For tests and the CPU default: `depth` stride-2 Conv3x3-BN-ReLU
  blocks doubling channels from `width`, each after a temporal shift, then
  a 1x1 projection and global pooling over space and time."""
  frames = input_shape[0]
  inputs = keras.Input(input_shape, name="frames")
  x = _shifted_convs(inputs, TemporalShift, width, depth, shift_fraction,
                     batch_norm)
  outputs = _pool_clip(x, frames, embedding_dim, pooling)
  return keras.Model(inputs, outputs, name="video_tiny")


@registry.ENCODERS.register("video_small")
def video_small(input_shape, width=16, depth=3, embedding_dim=256,
                shift_fraction=0.125, pooling="max", batch_norm=True):
  """The CPU default: `video_tiny`'s convolutions at a third of its
  training step's cost. `depth` stride-2 Conv3x3-BN-ReLU blocks doubling
  channels from `width`, each after the first preceded by a temporal shift
  (`TemporalShiftConv`: TemporalShift's values without slicing channels);
  then each frame's map is pooled over space, projected to `embedding_dim`
  by one Dense layer (after pooling rather than a 1x1 convolution before
  it: 16 times fewer positions to project at 32 px), and the frames are
  pooled over time. `embedding_dim` None or 0: no projection.
  """
  frames = input_shape[0]
  inputs = keras.Input(input_shape, name="frames")
  x = _shifted_convs(inputs, TemporalShiftConv, width, depth, shift_fraction,
                     batch_norm)
  spatial = (keras.layers.GlobalMaxPooling2D if pooling == "max"
             else keras.layers.GlobalAveragePooling2D)
  x = spatial(name="pool_space")(x)
  if embedding_dim:
    x = keras.layers.Dense(embedding_dim, name="project")(x)
  x = UnfoldFrames(frames, name="unfold")(x)
  temporal = (keras.layers.GlobalMaxPooling1D if pooling == "max"
              else keras.layers.GlobalAveragePooling1D)
  return keras.Model(inputs, temporal(name="pool_time")(x),
                     name="video_small")
