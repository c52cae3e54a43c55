"""The step a TPU runs: the whole train step compiled by XLA (on the CPU
here), several steps per call into TensorFlow (`steps_per_execution`),
and what stays exact when they are."""

import glob
import os
import re
import subprocess

import numpy as np
import pytest
import tensorflow as tf

from cola.configs import tiny
from common.io import plugins
from common.train import callbacks
from common.train import method as method_lib
from common.train import run_config
from common.train import trainer
from tests import processes

ROOT = processes.ROOT


@pytest.mark.parametrize("method", plugins.method_packages())
def test_jit_compile_puts_the_whole_train_step_in_one_xla_module(
    method, tmp_path, child_env):
  """XLA's dump holds one module for Keras's train step, and it holds the
  forward pass, the gradients and the optimizer's update: nothing of the
  step runs outside XLA (an op XLA cannot compile would fail the run)."""
  dump = tmp_path / "xla"
  env = dict(child_env, XLA_FLAGS=f"--xla_dump_to={dump} "
             "--xla_dump_hlo_as_text "
             "--xla_dump_hlo_module_re=.*one_step_on_data.*")
  result = subprocess.run(
      processes.train_command(method, str(tmp_path / "run"),
                              "--config.jit_compile=True"),
      cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
  assert result.returncode == 0, result.stderr[-3000:]
  modules = glob.glob(str(dump / "*one_step_on_data*before_optimizations.txt"))
  assert len(modules) == 1, modules
  with open(modules[0]) as f:
    hlo = f.read()
  scopes = set(re.findall(r'op_name="([^/"]+)/', hlo))
  assert {"adam", "gradient_tape"} <= scopes, sorted(scopes)
  assert "done: 4 steps" in result.stdout


def _fixed_batches(config, count=4, seed=0):
  rng = np.random.default_rng(seed)
  samples = int(config.crop_seconds * config.sample_rate)
  shape = [count, config.batch_size, samples]
  anchors = rng.uniform(-0.5, 0.5, shape).astype(np.float32)
  positives = (anchors + rng.normal(0, 0.05, shape)).astype(np.float32)
  return tf.data.Dataset.from_tensor_slices((anchors, positives))


def _fit(steps_per_execution):
  """4 steps (2 epochs) of the tiny COLA model on fixed batches, with
  nothing random inside the step: (epoch losses, weights, batch-end
  calls)."""
  config = tiny.get_config()
  config.noise_stddev = 0.0
  config.steps_per_execution = steps_per_execution
  tf.keras.utils.set_random_seed(0)
  model = method_lib.build_initialized_model(
      method_lib.load("cola"), config)
  calls = []
  history = model.fit(
      _fixed_batches(config), epochs=2, steps_per_epoch=2, verbose=0,
      shuffle=False,
      callbacks=[tf.keras.callbacks.LambdaCallback(
          on_train_batch_end=lambda batch, logs: calls.append(batch))])
  return history.history, [v.numpy() for v in model.weights], calls


def test_steps_per_execution_trains_and_logs_exactly_as_single_steps():
  single_logs, single_weights, single_calls = _fit(1)
  double_logs, double_weights, double_calls = _fit(2)
  assert len(single_calls) == 4 and len(double_calls) == 2  # Fewer calls,
  for key in single_logs:  # the same epoch logs and the same weights.
    np.testing.assert_allclose(double_logs[key], single_logs[key],
                               rtol=1e-5, atol=1e-6)
  for a, b in zip(single_weights, double_weights):
    np.testing.assert_allclose(b, a, rtol=1e-4, atol=1e-5)


def test_a_run_with_steps_per_execution_counts_steps_and_checkpoints(
    tmp_path):
  config = tiny.get_config()
  config.steps_per_execution = 2
  workdir = str(tmp_path / "run")
  summary = trainer.train(config, workdir=workdir, verbose=0)
  assert summary["steps"] == 4 and summary["steps_this_run"] == 4
  assert [p["step"] for p in summary["progress"]] == [0, 2, 4]
  index = callbacks.read_index(os.path.join(workdir, "checkpoints"))
  assert index["step"] == 4 and index["epoch"] == 2
  # The NaN stop names the steps of the call that diverged and leaves
  # the last good checkpoint.
  config.total_steps, config.noise_stddev = 8, float("inf")
  with pytest.raises(callbacks.TrainingDiverged,
                     match=r"at one of steps 5 to 6 \(steps_per_execution=2"):
    trainer.train(config, workdir=workdir, verbose=0)
  assert callbacks.read_index(os.path.join(workdir, "checkpoints"))[
      "step"] == 4


@pytest.mark.parametrize("value", [0, -2, 3])
def test_steps_per_execution_must_divide_an_epoch(value):
  config = tiny.get_config()  # steps_per_epoch = 2
  config.steps_per_execution = value
  with pytest.raises(run_config.ConfigError, match="steps_per_execution"):
    run_config.check(config)


PYTHON_OPS = {"PyFunc", "PyFuncStateless", "EagerPyFunc"}


def _python_ops(dataset):
  """Ops of `dataset`'s graph (its functions included) that call back
  into Python: what a TPU host's input pipeline cannot run in C++."""
  graph = tf.compat.v1.GraphDef.FromString(tf.raw_ops.DatasetToGraphV2(
      input_dataset=dataset._variant_tensor).numpy())  # pylint: disable=protected-access
  ops = {node.op for node in graph.node}
  for function in graph.library.function:
    ops.update(node.op for node in function.node_def)
  return ops & PYTHON_OPS


def test_the_finder_sees_a_numpy_function():
  dataset = tf.data.Dataset.range(3).map(
      lambda x: tf.numpy_function(lambda v: v + 1, [x], tf.int64))
  assert _python_ops(dataset)


@pytest.mark.parametrize("method", plugins.method_packages())
def test_the_tfrecord_input_path_runs_no_python(method, tmp_path):
  from tests.common.data import test_tfrecord_source
  folder = str(tmp_path / "shards")
  test_tfrecord_source.write_shards(folder, num_shards=2, per_shard=4)
  package = method_lib.load(method)
  config = __import__(f"{method}.configs.tiny", fromlist=["get_config"]
                      ).get_config()
  config.crop_seconds = config.export_window_seconds = 0.25
  dataset, _ = package.build_dataset(config, f"tfrecord:{folder}", 4)
  next(iter(dataset))  # It yields batches,
  assert not _python_ops(dataset)  # and no step of it calls Python.
