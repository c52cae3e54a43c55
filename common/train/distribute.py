"""`--strategy` names to tf.distribute strategies.

  cpu           the default (one-device) strategy, GPUs hidden
  gpu           the default (one-device) strategy on the first GPU
  mirrored      MirroredStrategy over all local GPUs (or, without GPUs, over
                `cpu_devices` logical CPU devices: useful for trying it out)
  multi_worker  MultiWorkerMirroredStrategy; workers and their roles come
                from the TF_CONFIG environment variable
  tpu           TPUStrategy on the TPU named by `tpu` ('' for the local one)

A strategy whose hardware is absent raises `StrategyError` with one line.
"""

import json
import os

from absl import logging
import tensorflow as tf

STRATEGIES = ("cpu", "gpu", "mirrored", "multi_worker", "tpu")


class StrategyError(RuntimeError):
  """The strategy cannot run on this machine."""


def split_cpu(num_devices):
  """Splits the CPU into `num_devices` logical devices (before TF starts)."""
  cpus = tf.config.list_physical_devices("CPU")
  try:
    tf.config.set_logical_device_configuration(
        cpus[0], [tf.config.LogicalDeviceConfiguration()] * num_devices)
  except RuntimeError:  # The runtime already started: keep what it has.
    pass
  devices = [d.name for d in tf.config.list_logical_devices("CPU")]
  if len(devices) < num_devices:
    logging.warning("only %d logical CPU devices (TensorFlow had already "
                    "started)", len(devices))
  return devices


def create_strategy(name, cpu_devices=2, tpu=""):
  if name not in STRATEGIES:
    raise StrategyError(
        f"--strategy={name}: expected one of {', '.join(STRATEGIES)}")
  gpus = tf.config.list_physical_devices("GPU")
  # One device: the default strategy, which skips the distributed-iterator
  # overhead that OneDeviceStrategy adds (measured ~25% per step on a CPU).
  if name == "cpu":
    if gpus:
      tf.config.set_visible_devices([], "GPU")
    return tf.distribute.get_strategy()
  if name == "gpu":
    if not gpus:
      raise StrategyError("--strategy=gpu: no GPU is visible to TensorFlow")
    return tf.distribute.get_strategy()
  if name == "mirrored":
    if gpus:
      return tf.distribute.MirroredStrategy()
    devices = split_cpu(max(1, cpu_devices))
    logging.warning("--strategy=mirrored without GPUs: mirroring over %d "
                    "logical CPU devices", len(devices))
    return tf.distribute.MirroredStrategy(devices)
  if name == "multi_worker":
    if "TF_CONFIG" not in os.environ:
      logging.warning("--strategy=multi_worker without TF_CONFIG: this "
                      "process is the only worker")
    else:
      json.loads(os.environ["TF_CONFIG"])  # A clear error if malformed.
    return tf.distribute.MultiWorkerMirroredStrategy()
  try:
    resolver = tf.distribute.cluster_resolver.TPUClusterResolver(tpu=tpu)
    tf.config.experimental_connect_to_cluster(resolver)
    tf.tpu.experimental.initialize_tpu_system(resolver)
  except (ValueError, RuntimeError, OSError, tf.errors.OpError) as e:
    # OSError: a named TPU is looked up over the network (URLError when
    # the name or the metadata server cannot be reached).
    first_line = (str(e).strip().splitlines() or [type(e).__name__])[0]
    where = f" named {tpu!r}" if tpu else ""
    raise StrategyError(
        f"--strategy=tpu: no TPU{where} found ({first_line})") from e
  return tf.distribute.TPUStrategy(resolver)
