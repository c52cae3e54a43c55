"""Raw-waveform encoders: 1-D CNNs from [batch, samples] to [batch, D].

The multimodal method contrasts two formats of the same audio, each with its
own encoder (after Wang & van den Oord, 2021): this is the waveform side.
A stack of strided 1-D convolutions (a learned filterbank, then coarser
and coarser time scales), optional residual blocks at each scale, a 1x1
projection and global pooling over time. No normalisation of the input: the
first convolution's batch norm sets the scale.

On a CPU what costs is the length of the first feature maps, not the
FLOPs: a first stride of 20 (1.25 ms hops, 40-sample filters) trains about
2x faster than wav2vec-style strides 5, 4, 4, 4 at the same output rate
(measured on the tiny sizes, batch 64), so the tiny encoder starts there.
"""

import keras

from common.models import registry


def _norm(x, batch_norm, name):
  return keras.layers.BatchNormalization(name=name)(x) if batch_norm else x


def _residual_block(x, channels, batch_norm, name):
  y = keras.layers.Conv1D(channels, 3, padding="same", use_bias=not batch_norm,
                          name=f"{name}_conv1")(x)
  y = keras.layers.ReLU(name=f"{name}_relu1")(_norm(y, batch_norm,
                                                    f"{name}_bn1"))
  y = keras.layers.Conv1D(channels, 3, padding="same", use_bias=not batch_norm,
                          name=f"{name}_conv2")(y)
  y = keras.layers.Add(name=f"{name}_add")([x, _norm(y, batch_norm,
                                                     f"{name}_bn2")])
  return keras.layers.ReLU(name=f"{name}_relu2")(y)


def waveform_cnn(input_shape, width=64, strides=(5, 4, 4, 4, 2), blocks=1,
                 max_width=512, embedding_dim=None, pooling="max",
                 batch_norm=True, name="waveform_cnn"):
  """Strided conv stages (kernel = 2 x stride) doubling channels from
  `width` up to `max_width`, each followed by `blocks` residual blocks;
  an optional 1x1 projection to `embedding_dim`; global pooling.

  Without `batch_norm` the network is the same function on any split of a
  batch (what the distributed-equivalence tests need).
  """
  inputs = keras.Input(input_shape, name="waveform")
  x = keras.layers.Reshape((-1, 1), name="channel")(inputs)
  for i, stride in enumerate(strides):
    channels = min(width * 2**i, max_width)
    x = keras.layers.Conv1D(channels, 2 * stride, strides=stride,
                            padding="same", use_bias=not batch_norm,
                            name=f"conv{i}")(x)
    x = keras.layers.ReLU(name=f"relu{i}")(_norm(x, batch_norm, f"bn{i}"))
    for j in range(blocks):
      x = _residual_block(x, channels, batch_norm, f"stage{i}_block{j}")
  if embedding_dim:
    x = keras.layers.Conv1D(embedding_dim, 1, name="project")(x)
  pool = (keras.layers.GlobalMaxPooling1D if pooling == "max"
          else keras.layers.GlobalAveragePooling1D)
  return keras.Model(inputs, pool(name="pool")(x), name=name)


registry.ENCODERS.register("waveform_cnn")(waveform_cnn)


@registry.ENCODERS.register("waveform_tiny")
def waveform_tiny(input_shape, width=32, depth=3, embedding_dim=256,
                  pooling="max", batch_norm=True):
  """For tests and the CPU default: `depth` strided convs (strides 20, 4,
  4, ...: 16 kHz down to 50 frames/s at depth 3), no residual blocks."""
  return waveform_cnn(input_shape, width=width,
                      strides=(20,) + (4,) * (depth - 1), blocks=0,
                      max_width=width * 2**depth, embedding_dim=embedding_dim,
                      pooling=pooling, batch_norm=batch_norm,
                      name="waveform_tiny")
