"""Log-mel encoders: [batch, time, mel, 1] -> [batch, D].
Keras's EfficientNet divides its input by 255 and applies an (un-adapted,
identity) Normalization in its stem, because it expects 8-bit RGB pixels.
The authors' COLA code used the same Keras model, so it saw log-mels
scaled down by 255 before the first convolution. A log-mel is not a pixel:
scaled that way, the first conv's outputs have a variance far below batch
norm's epsilon (1e-3), which shrinks the stem's activations. By default we
multiply the input by 255 first (`undo_input_rescaling=True`), so the network
sees the log-mel itself; set it to False to reproduce the authors' model.
"""

import keras

from common.models import registry

@registry.ENCODERS.register("efficientnet_b0")
def efficientnet_b0(input_shape, undo_input_rescaling=True, pooling="max",
                    ):
  """EfficientNet-B0, random init, global max pooling: 1280-d."""
  inputs = keras.Input(input_shape, name="log_mel")
  x = inputs
  if undo_input_rescaling:
    x = keras.layers.Rescaling(255.0, name="undo_stem_rescaling")(x)
  backbone = keras.applications.EfficientNetB0(
      include_top=False, weights=None, input_shape=input_shape,
      pooling=pooling)
  return keras.Model(inputs, backbone(x), name="efficientnet_b0")


@registry.ENCODERS.register("resnet50")
def resnet50(input_shape, pooling="max", ):
  """ResNet-50 (Keras's, random init, no input preprocessing), 2048-d.

  The log-mel network of the multimodal paper's family of models; global
  max pooling as for EfficientNet-B0 (COLA's choice).
  """
  inputs = keras.Input(input_shape, name="log_mel")
  backbone = keras.applications.ResNet50(
      include_top=False, weights=None, input_shape=input_shape,
      pooling=pooling)
  return keras.Model(inputs, backbone(inputs), name="resnet50")


@registry.ENCODERS.register("tiny")
def tiny(input_shape, width=16, depth=4, embedding_dim=256, pooling="max",
         batch_norm=True, ):
  """A small conv net for tests and the CPU embedded default.

  `depth` blocks of a stride-2 Conv3x3-BN-ReLU, doubling channels from
  `width`, then a 1x1 conv to `embedding_dim` and global pooling. Strided
  convolutions rather than max pooling: on a CPU their backward pass is
  about 5x cheaper at this size. Without `batch_norm` the network is the
  same function on any split of a batch, which the distributed-equivalence
  tests rely on.
  """
  def norm(x, name):
    return keras.layers.BatchNormalization(name=name)(x) if batch_norm else x

  inputs = keras.Input(input_shape, name="log_mel")
  x = norm(inputs, "input_norm")
  for i in range(depth):
    x = keras.layers.Conv2D(width * 2**i, 3, strides=2, padding="same",
                            use_bias=not batch_norm, name=f"conv{i}")(x)
    x = keras.layers.ReLU(name=f"relu{i}")(norm(x, f"bn{i}"))
  x = keras.layers.Conv2D(embedding_dim, 1, name="project")(x)
  pool = (keras.layers.GlobalMaxPooling2D if pooling == "max"
          else keras.layers.GlobalAveragePooling2D)
  return keras.Model(inputs, pool(name="pool")(x), name="tiny")


POOLED_STATISTICS = ("mean", "max", "std", "mean+max")


class StdPooling1D(keras.layers.Layer):
  """[batch, time, dim] -> the standard deviation over time [batch, dim]."""

  def call(self, x):
    mean = keras.ops.mean(x, axis=1, keepdims=True)
    return keras.ops.sqrt(keras.ops.mean(keras.ops.square(x - mean), axis=1)
                          + 1e-6)


def temporal_pooling(x, pooling, name="pool"):
  """[batch, time, dim] -> [batch, k * dim]: the statistics over time that
  `pooling` names, comma-separated and concatenated in that order.

  "mean", "max", "std" (x-vector style statistics pooling, what speaker
  and language tasks read), and "mean+max", the mean and max added (BYOL-A's
  choice: the max keeps short events, the mean the texture).
  """
  names = [p.strip() for p in pooling.split(",")]
  unknown = [p for p in names if p not in POOLED_STATISTICS]
  if unknown or not names:
    raise ValueError(f"pooling={pooling!r}: expected comma-separated "
                     f"statistics among {', '.join(POOLED_STATISTICS)}")
  def mean(i):
    return keras.layers.GlobalAveragePooling1D(name=f"{name}{i}_mean")(x)

  def top(i):
    return keras.layers.GlobalMaxPooling1D(name=f"{name}{i}_max")(x)

  parts = []
  for i, stat in enumerate(names):
    if stat == "mean":
      parts.append(mean(i))
    elif stat == "max":
      parts.append(top(i))
    elif stat == "std":
      parts.append(StdPooling1D(name=f"{name}{i}_std")(x))
    else:
      parts.append(keras.layers.Add(name=f"{name}{i}_mean_max")(
          [mean(i), top(i)]))
  if len(parts) == 1:
    return parts[0]
  return keras.layers.Concatenate(name=name)(parts)


@registry.ENCODERS.register("audio_cnn")
def audio_cnn(input_shape, width=64, blocks=3, dense_dim=2048,
              dense_layers=2, pooling="mean+max", dropout=0.0):
  """Convolutions that keep the frequency axis, then per-frame dense layers
  and statistics pooled over time: the layout of BYOL-A's encoder
  (Niizumi et al., 2021, after the DCASE 2020 task 6 baseline), the CPU
  default.

  `blocks` of Conv3x3-BN-ReLU-MaxPool2x2 with `width` channels (or one
  width per block) shrink time and frequency by 2 each; every remaining
  frame's (frequency x channel) features go through `dense_layers`
  Dense(`dense_dim`)-ReLU layers; the frames are pooled over time
  (`pooling`, see temporal_pooling). Unlike `tiny`, no global pooling
  over frequency: where in the spectrum a pattern lies is what tells a
  voice, an instrument or a language apart, and a linear probe reads it
  off directly.
  """
  widths = list(width) if isinstance(width, (list, tuple)) else (
      [width] * blocks)
  if len(widths) != blocks:
    raise ValueError(f"audio_cnn: {len(widths)} widths {widths} for "
                     f"{blocks} blocks")
  inputs = keras.Input(input_shape, name="log_mel")
  x = inputs
  for i, channels in enumerate(widths):
    x = keras.layers.Conv2D(channels, 3, padding="same", use_bias=False,
                            name=f"conv{i}")(x)
    x = keras.layers.BatchNormalization(name=f"bn{i}")(x)
    x = keras.layers.ReLU(name=f"relu{i}")(x)
    x = keras.layers.MaxPooling2D(2, name=f"pool{i}")(x)
  frames, bands, channels = x.shape[1:]
  x = keras.layers.Reshape((frames, bands * channels), name="frames")(x)
  for i in range(dense_layers):
    x = keras.layers.Dense(dense_dim, activation="relu", name=f"dense{i}")(x)
    if dropout:
      x = keras.layers.Dropout(dropout, name=f"dropout{i}")(x)
  return keras.Model(inputs, temporal_pooling(x, pooling), name="audio_cnn")
