"""Waveform and video encoders: shapes by name, the temporal shift (both
forms), and that the video encoders see the order of frames."""

import numpy as np
import pytest
import tensorflow as tf

from common.models import encoders
from common.models import video_encoders


@pytest.mark.parametrize("name,shape,kwargs,size", [
    ("waveform_tiny", (16000,), dict(width=4, depth=2, embedding_dim=8), 8),
    ("waveform_cnn", (16000,), dict(width=4, strides=(5, 4, 4), blocks=1),
     16),
    ("video_tiny", (4, 16, 16, 3), dict(width=4, depth=2, embedding_dim=8),
     8),
    ("video_small", (4, 16, 16, 3), dict(width=4, depth=2, embedding_dim=8),
     8),
    ("video_small", (4, 16, 16, 3), dict(width=4, depth=2, embedding_dim=0),
     8),
    ("video_tsm", (4, 16, 16, 3), dict(width=4, blocks=(1, 1)), 8),
])
def test_encoders_by_name_give_one_vector_per_example(name, shape, kwargs,
                                                      size):
  encoder = encoders.build(name, shape, **kwargs)
  out = encoder(tf.random.uniform((2,) + shape, 0, 1), training=False)
  assert out.shape == (2, size)
  assert np.all(np.isfinite(out.numpy()))


def test_unknown_encoder_lists_every_name():
  with pytest.raises(ValueError, match="video_tsm.*waveform_cnn"):
    encoders.build("wav2vec", (16000,))


def test_temporal_shift_moves_a_share_of_channels_by_one_frame():
  frames, channels = 4, 16
  x = np.arange(2 * frames * channels, dtype=np.float32).reshape(
      2 * frames, 1, 1, channels)
  out = video_encoders.TemporalShift(frames, 0.125)(x).numpy()
  x = x.reshape(2, frames, channels)
  out = out.reshape(2, frames, channels)
  # Channels 0-1 come from the next frame, 2-3 from the previous one.
  np.testing.assert_array_equal(out[:, :-1, :2], x[:, 1:, :2])
  np.testing.assert_array_equal(out[:, -1, :2], 0)
  np.testing.assert_array_equal(out[:, 1:, 2:4], x[:, :-1, 2:4])
  np.testing.assert_array_equal(out[:, 0, 2:4], 0)
  np.testing.assert_array_equal(out[..., 4:], x[..., 4:])


@pytest.mark.parametrize("frames,channels,fraction", [
    (4, 16, 0.125), (8, 32, 0.125), (8, 64, 0.25), (8, 4, 0.125),
    (8, 1, 0.125), (8, 16, 0.0), (1, 16, 0.125)])
def test_temporal_shift_conv_computes_the_temporal_shift(frames, channels,
                                                         fraction):
  """The depthwise-convolution form gives TemporalShift's values exactly,
  including the zeros at the clip's ends and the cases with no shift."""
  x = tf.random.normal((3 * frames, 5, 3, channels), seed=1)
  sliced = video_encoders.TemporalShift(frames, fraction)(x).numpy()
  conv = video_encoders.TemporalShiftConv(frames, fraction)(x).numpy()
  np.testing.assert_array_equal(conv, sliced)
  if fraction and frames > 1 and channels >= 2:
    assert not np.array_equal(conv, x.numpy())


def test_video_small_mixes_neighbouring_frames_and_trains():
  """Frame 0's features (before pooling over time) move when only frame 1
  changes, and stay put without the shift; every weight gets a gradient."""
  shape = (4, 16, 16, 3)
  frames = tf.random.uniform((2,) + shape, 0, 255, seed=2)
  changed = tf.concat([frames[:, :1], 255.0 - frames[:, 1:2], frames[:, 2:]],
                      1)
  for fraction, mixes in [(0.125, True), (0.0, False)]:
    tf.random.set_seed(0)
    encoder = encoders.build("video_small", shape, width=8, depth=3,
                             embedding_dim=8, batch_norm=False,
                             shift_fraction=fraction)
    per_frame = tf.keras.Model(encoder.input,
                               encoder.get_layer("unfold").output)
    before = per_frame(frames).numpy()
    after = per_frame(changed).numpy()
    assert before.shape == (2, 4, 8)
    assert not np.allclose(before[:, 1], after[:, 1])
    # Frame 3 is two shifts (depth 3) away from frame 1: it moves too.
    assert np.allclose(before[:, 0], after[:, 0]) != mixes
    assert np.allclose(before[:, 3], after[:, 3]) != mixes
  encoder = encoders.build("video_small", shape, width=4, depth=2,
                           embedding_dim=8)
  with tf.GradientTape() as tape:
    loss = tf.reduce_sum(tf.square(encoder(frames, training=True)))
  gradients = tape.gradient(loss, encoder.trainable_variables)
  assert len(gradients) == len(encoder.trainable_variables) > 0
  for variable, gradient in zip(encoder.trainable_variables, gradients):
    assert gradient is not None, variable.path
    assert np.all(np.isfinite(gradient.numpy())), variable.path
    assert np.any(gradient.numpy() != 0), variable.path


def test_video_small_rejects_unknown_arguments():
  with pytest.raises(ValueError, match="video_small' has no option blocks; "
                     "its options are batch_norm, depth"):
    encoders.build("video_small", (4, 16, 16, 3), blocks=(1, 1))


@pytest.mark.parametrize("name", ["video_tiny", "video_small", "video_tsm"])
def test_video_encoders_see_the_order_of_frames(name):
  """Pooling over time is order-blind; the shifts make the order count."""
  tf.random.set_seed(0)
  encoder = encoders.build(name, (4, 16, 16, 3), width=4, batch_norm=False,
                           **({"blocks": (1, 1)} if name == "video_tsm"
                              else {"depth": 2, "embedding_dim": 8}))
  frames = tf.random.uniform((1, 4, 16, 16, 3), 0, 255)
  forward = encoder(frames).numpy()
  backward = encoder(frames[:, ::-1]).numpy()
  assert not np.allclose(forward, backward, rtol=1e-3, atol=1e-4)
  no_shift = encoders.build(name, (4, 16, 16, 3), width=4, batch_norm=False,
                            shift_fraction=0.0,
                            **({"blocks": (1, 1)} if name == "video_tsm"
                               else {"depth": 2, "embedding_dim": 8}))
  np.testing.assert_allclose(no_shift(frames).numpy(),
                             no_shift(frames[:, ::-1]).numpy(), rtol=1e-4,
                             atol=1e-5)


def test_encoders_without_batch_norm_do_not_depend_on_the_batch():
  for name, shape in [("waveform_tiny", (16000,)),
                      ("video_tiny", (4, 16, 16, 3)),
                      ("video_small", (4, 16, 16, 3))]:
    encoder = encoders.build(name, shape, width=4, depth=2, embedding_dim=8,
                             batch_norm=False)
    x = tf.random.uniform((4,) + shape, 0, 1)
    whole = encoder(x, training=True).numpy()
    halves = np.concatenate([encoder(x[:2], training=True),
                             encoder(x[2:], training=True)])
    np.testing.assert_allclose(whole, halves, rtol=1e-5, atol=1e-6)
