"""BYOL's loss, moving-average target and augmentations, against numpy."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from byol import augment
from byol import model as byol_model
from byol.configs import tiny


def built(config=None):
  keras.utils.set_random_seed(0)
  model = byol_model.Byol(config or tiny.get_config())
  model.compile(optimizer=keras.optimizers.SGD(0.5))
  model.initialize()
  return model


def numpy_loss(p, z):
  p = p / np.linalg.norm(p, axis=-1, keepdims=True)
  z = z / np.linalg.norm(z, axis=-1, keepdims=True)
  return np.mean(2 - 2 * np.sum(p * z, -1))


def test_the_target_starts_as_a_copy_of_the_online_network():
  model = built()
  for target, online in model._pairs():
    np.testing.assert_array_equal(target.numpy(), online.numpy())
  assert model.target_encoder.weights[0] is not model.encoder.weights[0]


def test_the_loss_is_the_symmetrised_regression_of_the_other_views_target():
  model = built()
  x = tf.constant(np.random.default_rng(0).uniform(
      -0.3, 0.3, [4, model.crop_samples]).astype(np.float32))
  loss, values = model.loss_step(x, training=False)  # Views equal: no aug.
  log_mels = model.frontend(x)
  p = model.predictor(model.projector(model.encoder(log_mels))).numpy()
  z = model.target_projector(model.target_encoder(log_mels)).numpy()
  np.testing.assert_allclose(loss.numpy(), 2 * numpy_loss(p, z), rtol=1e-5)
  assert 0 < float(loss) < 8 and -1 <= float(values["cosine"]) <= 1


def test_one_step_moves_the_target_by_the_moving_average_only():
  config = tiny.get_config()
  config.ema_decay = 0.9
  model = built(config)
  before_target = [t.numpy() for t, _ in model._pairs()]
  x = np.random.default_rng(1).uniform(
      -0.3, 0.3, [8, model.crop_samples]).astype(np.float32)
  model.fit(tf.data.Dataset.from_tensors(x), epochs=1, steps_per_epoch=1,
            verbose=0)
  moved = 0
  for (target, online), old in zip(model._pairs(), before_target):
    if not online.trainable:
      continue  # Batch-norm statistics: the target's own forward pass.
    want = 0.9 * old + 0.1 * online.numpy()
    np.testing.assert_allclose(target.numpy(), want, rtol=1e-5, atol=1e-7)
    moved += int(not np.allclose(target.numpy(), old))
  assert moved > 0
  # The optimizer never updates the target itself.
  assert not any(v is t for t, _ in model._pairs()
                 for v in model.optimized_variables)


def test_log_mixup_exp_mixes_in_the_linear_domain():
  tf.random.set_seed(0)
  x = tf.constant(np.random.default_rng(2).normal(
      size=[6, 10, 8, 1]).astype(np.float32))
  mixed = augment.log_mixup_exp(x, 0.4, tf.constant([0, 1])).numpy()
  # Each example is log((1 - r) e^x + r e^x') for one partner x' and one
  # r <= 0.4: recover r from any element and check the rest agree.
  xs = x.numpy()
  for i in range(6):
    found = False
    for j in range(6):
      e, ep, m = np.exp(xs[i]), np.exp(xs[j]), np.exp(mixed[i]) - 1e-8
      if np.allclose(e, ep):
        continue
      r = (m - e) / (ep - e)
      if np.allclose(r, r.flat[0], atol=1e-3) and -1e-4 <= r.flat[0] <= 0.4:
        found = True
    assert found or np.allclose(mixed[i], xs[i], atol=1e-5), i
  assert augment.log_mixup_exp(x, 0.0, tf.constant([0, 1])) is x


def test_the_fader_adds_a_linear_ramp_within_the_gain():
  x = tf.zeros([5, 20, 4, 1])
  faded = augment.random_linear_fader(x, 1.0, tf.constant([0, 1])).numpy()[..., 0]
  for example in faded:
    ramp = example[:, 0]
    np.testing.assert_allclose(np.diff(ramp), np.diff(ramp)[0], atol=1e-5)
    assert np.all(np.abs(ramp) <= 1.0 + 1e-6)
    np.testing.assert_allclose(example, example[:, :1].repeat(4, 1))


def test_the_exported_embedding_holds_no_training_part():
  model = built()
  names = {v.path for v in model.embedding_model().weights}
  everything = {id(v) for v in model.embedding_model().weights}
  for part in (model.projector, model.predictor, model.target_encoder,
               model.target_projector):
    assert not everything & {id(v) for v in part.weights}, part.name
  assert len(names) == len(model.frontend.weights) + len(
      model.encoder.weights)


def test_an_ema_decay_outside_0_1_is_refused():
  config = tiny.get_config()
  config.ema_decay = 1.0
  with pytest.raises(ValueError, match="ema_decay=1.0"):
    byol_model.Byol(config)
