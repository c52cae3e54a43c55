"""BYOL under tf.distribute: two replicas == one device on the same global
batch, for the loss, the online network's gradients and the moving-average
target after the step."""

import numpy as np
import tensorflow as tf

from byol import model as byol_model
from byol.configs import tiny
from tests.strategies import MIRRORED
from tests.strategies import ONE_DEVICE


def make_config():
  config = tiny.get_config()
  config.learning_rate = 0.1
  config.ema_decay = 0.9
  # Batch norm statistics are per replica (as in the other methods): a
  # split batch is then another function; compare the rest exactly.
  config.encoder_kwargs.batch_norm = False
  config.head_batch_norm = False
  # Each replica draws its own mixing partners (from its own examples),
  # crops and fades: compare without them.
  config.mixup_ratio = 0.0
  config.fader_gain = 0.0
  config.random_resized_crop.enabled = False
  return config


def one_step(strategy, config, batch):
  """Loss, online gradients and target weights after one SGD step."""
  tf.keras.utils.set_random_seed(0)
  with strategy.scope():
    model = byol_model.Byol(config)
    model.compile(optimizer=tf.keras.optimizers.SGD(config.learning_rate))
    model.initialize()
  before = [v.numpy() for v in model.optimized_variables]
  history = model.fit(tf.data.Dataset.from_tensors(batch), epochs=1,
                      steps_per_epoch=1, verbose=0)
  after = [v.numpy() for v in model.optimized_variables]
  gradients = [(b - a) / config.learning_rate for b, a in zip(before, after)]
  targets = [t.numpy() for t, _ in model._pairs()]
  return history.history, gradients, targets


def test_mirrored_equals_one_device_on_the_global_batch():
  rng = np.random.default_rng(0)
  batch = rng.uniform(-0.2, 0.2, [8, 16000]).astype(np.float32)
  config = make_config()
  logs_one, grads_one, targets_one = one_step(ONE_DEVICE, config, batch)
  logs_two, grads_two, targets_two = one_step(MIRRORED, config, batch)
  assert MIRRORED.num_replicas_in_sync == 2
  for key in ("loss", "cosine"):
    np.testing.assert_allclose(logs_two[key][0], logs_one[key][0], rtol=1e-5,
                               err_msg=key)
  assert len(grads_one) == len(grads_two) > 0
  for g1, g2 in zip(grads_one, grads_two):
    np.testing.assert_allclose(g2, g1, rtol=1e-4, atol=1e-6)
  for t1, t2 in zip(targets_one, targets_two):
    np.testing.assert_allclose(t2, t1, rtol=1e-5, atol=1e-7)
  # The step changed the online network, and the target followed it.
  assert any(np.abs(g).max() > 0 for g in grads_one)
