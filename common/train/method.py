"""A method, found by the module path its config names, and its model built
for training: compiled with the run's optimizer, every weight created.

A method is a module with two functions (cola/method.py, multimodal/method.py):

  build_model(config) -> keras.Model with `initialize()`, `train_step`, and
      `embedding_model()`: a Keras callable mapping [n, window samples]
      waveforms to [n, D] embeddings, which is what gets exported;
  build_dataset(config, data_spec, batch_size) -> (tf.data.Dataset, source)
      yielding global batches forever.

`config.method` names it: a package holding a `method.py` ("cola" is
cola/method.py) or a module path ("my_project.my_method"), imported as
big_vision imports `big_vision.models.{name}`, so common/ never names the
methods that plug into it.
"""

import importlib
from typing import Any

import keras
import tensorflow as tf

PLUG_IN = ("build_model", "build_dataset")


def module_path(name: str) -> str:
  """The module `config.method` names: `name` itself when it is a dotted
  path, else the package's `method` module."""
  return name if "." in name else f"{name}.method"


def load(name: str) -> Any:
  """Imports the method `name` names.

  Args:
    name: `config.method`, a package with a method.py or a module path.

  Returns:
    The method module.

  Raises:
    ValueError: no such module, or it lacks build_model/build_dataset.
  """
  path = module_path(str(name))
  try:
    module = importlib.import_module(path)
  except ModuleNotFoundError as e:
    if e.name is None or not path.startswith(e.name):
      raise  # The method exists; something it imports does not.
    raise ValueError(f"method {name!r}: no module {path} (config.method "
                     "names a package with a method.py, or a module path)"
                     ) from None
  missing = [f for f in PLUG_IN if not callable(getattr(module, f, None))]
  if missing:
    raise ValueError(f"method {name!r}: {path} has no {', '.join(missing)}")
  return module


SCHEDULES = ("constant", "cosine")


def learning_rate(config):
  """The config's rate: a float, or a warm-up + cosine decay schedule."""
  schedule = config.get("lr_schedule", "constant")
  if schedule not in SCHEDULES:
    raise ValueError(f"lr_schedule={schedule!r}: expected one of "
                     f"{', '.join(SCHEDULES)}")
  if schedule == "constant":
    return config.learning_rate
  warmup = int(config.get("warmup_steps", 0))
  return keras.optimizers.schedules.CosineDecay(
      0.0 if warmup else config.learning_rate,
      decay_steps=max(config.total_steps - warmup, 1),
      warmup_target=config.learning_rate if warmup else None,
      warmup_steps=warmup)


def build_optimizer(config):
  return keras.optimizers.Adam(learning_rate(config))


def build_initialized_model(method, config):
  """The method's model, compiled with the run's optimizer and every weight
  created (the optimizer's too). Call it in the strategy's scope.

  Args:
    method: a method module (`load`).
    config: the run's config.

  Returns:
    The keras.Model.
  """
  model = method.build_model(config)
  model.compile(optimizer=build_optimizer(config),
                jit_compile=bool(config.get("jit_compile", False)),
                steps_per_execution=config.get("steps_per_execution", 1))
  model.initialize()
  model.optimizer.build(model.trainable_variables)
  if _worker_count(tf.distribute.get_strategy()) > 1:
    _fit_multi_worker(model)
  return model


def _worker_count(strategy):
  """Processes a MultiWorkerMirroredStrategy spans (0 for other ones)."""
  if not isinstance(strategy, tf.distribute.MultiWorkerMirroredStrategy):
    return 0
  spec = strategy.cluster_resolver.cluster_spec().as_dict()
  return sum(len(spec.get(job, [])) for job in ("chief", "worker"))


def _fit_multi_worker(model):
  """Works around two Keras 3 bugs that stop `fit` under
  MultiWorkerMirroredStrategy with several workers
  (tests/test_multimodal_distributed.py runs two):

  - fit first averages one batch over the replicas to build the model
    symbolically, and the strategy cannot reduce a nested batch (a tuple or
    dict; keras-team/keras#20329). initialize() has built everything that
    this would, so it is skipped.
  - each step's logs are averaged with `strategy.reduce("MEAN", v, axis=0)`,
    which fails on scalars (tensorflow/tensorflow#72388); logs of shape [1]
    reduce to the same scalar means.
  """
  model._maybe_symbolic_build = lambda *args, **kwargs: None  # pylint: disable=protected-access
  train_step = model.train_step

  def train_step_with_vector_logs(data):
    return {k: tf.reshape(v, [1]) for k, v in train_step(data).items()}

  model.train_step = train_step_with_vector_logs
