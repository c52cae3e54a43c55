"""The multimodal model under tf.distribute: two replicas == one device on
the same global batch (negatives from the global batch, masked clips
included), two worker processes agree on the weights, and mixed precision
keeps the losses in float32."""

import json
import os
import subprocess
import sys

import keras
import numpy as np
import pytest
import tensorflow as tf

from multimodal.configs import tiny
from multimodal import model as model_lib
from tests import processes
from tests.strategies import MIRRORED


def make_config(**overrides):
  config = tiny.get_config()
  config.learning_rate = 0.1
  config.head_hidden_dim = 8  # Exercise the MLP head too.
  # Batch norm statistics are per replica, which makes a split batch a
  # different function; compare the rest exactly.
  for key in ("mel_encoder_kwargs", "wave_encoder_kwargs",
              "video_encoder_kwargs"):
    config[key].batch_norm = False
  # Each replica draws its own random resized crops: compare without them.
  config.random_resized_crop.enabled = False
  config.update(overrides)
  return config


def global_batch(masked=(1, 2)):
  """8 clips; clips `masked` have no video (both in the first replica's
  half, so the replicas hold different numbers of usable pairs)."""
  rng = np.random.default_rng(0)
  config = make_config()
  frames = int(config.crop_seconds * config.fps)
  has_video = np.ones([8], np.float32)
  has_video[list(masked)] = 0
  return {
      "audio": rng.uniform(-0.5, 0.5, [8, 16000]).astype(np.float32),
      "frames": rng.integers(0, 256, [8, frames, config.resolution,
                                      config.resolution, 3], np.uint8),
      "has_video": has_video,
  }


def build(config, strategy=None):
  keras.utils.set_random_seed(0)  # The same initial weights every time.
  with (strategy or tf.distribute.get_strategy()).scope():
    model = model_lib.Multimodal(config)
    model.compile(optimizer=keras.optimizers.SGD(config.learning_rate))
    model.initialize()
  return model


def mirrored_step(config, batch):
  """Metrics and gradients of one SGD step of fit on two replicas."""
  model = build(config, MIRRORED)
  before = [v.numpy() for v in model.trainable_variables]
  history = model.fit(tf.data.Dataset.from_tensors(batch), epochs=1,
                      steps_per_epoch=1, verbose=0)
  after = [v.numpy() for v in model.trainable_variables]
  gradients = [(b - a) / config.learning_rate for b, a in zip(before, after)]
  return {k: v[0] for k, v in history.history.items()}, gradients


def one_device(config, batch):
  """Metrics and gradients on one device, eagerly."""
  model = build(config)
  with tf.GradientTape() as tape:
    loss, values = model.loss_step(batch, training=True)
  gradients = tape.gradient(loss, model.trainable_variables)
  metrics = {"loss": loss.numpy()}
  metrics.update({name: value.numpy() for name, value in values.items()})
  return metrics, [g.numpy() for g in gradients]


def test_mirrored_equals_one_device_on_the_global_batch():
  config = make_config()
  batch = global_batch()
  metrics_one, grads_one = one_device(config, batch)
  metrics_two, grads_two = mirrored_step(config, batch)
  assert MIRRORED.num_replicas_in_sync == 2
  assert set(metrics_two) == set(metrics_one) == {"loss"} | {
      f"{p}_{m}" for p in ("wave_mel", "wave_video", "mel_video")
      for m in ("loss", "accuracy")}
  for key, value in metrics_one.items():
    np.testing.assert_allclose(metrics_two[key], value, rtol=1e-5,
                               err_msg=key)
  assert len(grads_one) == len(grads_two)
  for g1, g2 in zip(grads_one, grads_two):
    np.testing.assert_allclose(g2, g1, rtol=1e-4, atol=1e-6)


def test_per_replica_negatives_score_only_the_local_half():
  batch = global_batch(masked=())
  local, _ = mirrored_step(make_config(global_negatives=False), batch)
  halves = [one_device(make_config(), {
      k: v[i:i + 4] for k, v in batch.items()})[0]["loss"] for i in (0, 4)]
  np.testing.assert_allclose(local["loss"], np.mean(halves), rtol=1e-5)


def test_mixed_precision_computes_in_half_and_the_loss_in_float32():
  keras.mixed_precision.set_global_policy("mixed_bfloat16")
  try:
    config = make_config(mixed_precision="mixed_bfloat16")
    model = model_lib.Multimodal(config)
    model.compile(optimizer=keras.optimizers.Adam(1e-3))
    model.initialize()
    batch = global_batch()
    h = model.encode(batch)
    assert {v.dtype for v in h.values()} == {tf.bfloat16}
    loss, values = model.loss_step(batch, training=False)
    assert loss.dtype == tf.float32
    assert all(v.dtype == tf.float32 for v in values.values())
    logs = model.train_step(batch)
    assert logs["loss"].dtype == tf.float32 and np.isfinite(logs["loss"])
    assert all(v.dtype == "float32" for v in model.trainable_variables)
    assert model(batch["audio"]).dtype == tf.bfloat16
  finally:
    keras.mixed_precision.set_global_policy("float32")


WORKER = """
import json, sys
import keras, numpy as np
from common.train import trainer
from multimodal.configs import tiny

class SaveWeights(keras.callbacks.Callback):
  # Trainable weights: batch norm's moving statistics are per replica.
  def on_train_end(self, logs=None):
    np.savez(sys.argv[2], *[v.numpy() for v in self.model.trainable_weights],
             iterations=self.model.optimizer.iterations.numpy())

config = tiny.get_config()
config.total_steps = 2
config.steps_per_epoch = 2
summary = trainer.train(config, strategy_name="multi_worker",
                         workdir=sys.argv[1], verbose=0,
                         callbacks=[SaveWeights()])
print(json.dumps({"replicas": summary["replicas"], "steps": summary["steps"]}))
"""


def test_two_worker_processes_train_together_and_agree(tmp_path, child_env):
  ports = processes.free_ports(2)
  workdir = tmp_path / "run"
  workers = []
  for index in range(2):
    env = processes.worker_env(child_env, ports, index)
    workers.append(subprocess.Popen(
        [sys.executable, "-c", WORKER, str(workdir),
         str(tmp_path / f"weights{index}.npz")], env=env,
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True))
  outputs = []
  for worker in workers:
    try:
      out, err = worker.communicate(timeout=300)
    except subprocess.TimeoutExpired:
      for w in workers:
        w.kill()
      pytest.fail("workers did not finish")
    assert worker.returncode == 0, err[-3000:]
    outputs.append(json.loads(out.strip().splitlines()[-1]))
  assert outputs == [{"replicas": 2, "steps": 2}] * 2
  weights = [np.load(tmp_path / f"weights{i}.npz") for i in range(2)]
  assert len(weights[0].files) > 10 and weights[0]["iterations"] == 2
  for name in weights[0].files:
    np.testing.assert_array_equal(weights[1][name], weights[0][name])
  # The chief alone wrote the checkpoint, the summary and the SavedModel.
  assert os.path.exists(workdir / "saved_model" / "saved_model.pb")
  assert not [p for p in os.listdir(workdir / "checkpoints")
              if p.startswith(".")]
