"""A method, found by the module path its config names, checked against
the plug-in contract, and its model built for training: compiled with the
run's optimizer, every weight created.

The contract (`MethodModule`, `TrainingModel`; docs/layout.md) is what
common/ relies on, checked when a method is loaded and when its model is
built, so a method that breaks it fails with one line naming what it lacks
instead of deep inside `fit`. A method is a package like cola/ (its
method.py, train.py and configs/: common/io/plugins.py), or a module path
("my_project.my_method") imported as big_vision imports
`big_vision.models.{name}`, so common/ never names the methods that plug
into it. Most methods subclass common/models/learner.Learner, which
satisfies `TrainingModel` and leaves the method its loss.
"""

import importlib
from typing import Any, Callable, Protocol, Tuple, runtime_checkable

import keras
import tensorflow as tf

from common.io import plugins


@runtime_checkable
class TrainingModel(Protocol):
  """What the trainer, the export and the evaluation use of a method's
  model (besides being a compiled keras.Model with train_step/test_step)."""

  def initialize(self) -> None:
    """Creates every weight (one eager call on zeros)."""

  def adapt(self, dataset: tf.data.Dataset) -> None:
    """Measures the data statistics the model stores (the trainer calls it
    on the training batches before fit; a resume restores them after)."""

  def embedding_model(self) -> Callable:
    """A Keras callable [n, window samples] -> [n, D]: what is exported
    (the frontend and the encoder only, no training heads)."""


class MethodModule(Protocol):
  """A method module: the two functions the training path calls."""

  def build_model(self, config: Any) -> TrainingModel:
    """The method's keras.Model for `config` (not yet compiled)."""

  def build_dataset(self, config: Any, data_spec: str, batch_size: int
                    ) -> Tuple[tf.data.Dataset, Any]:
    """(global batches forever, the data source) for `--data=data_spec`."""


PLUG_IN = ("build_model", "build_dataset")
MODEL_CONTRACT = ("initialize", "adapt", "embedding_model", "train_step",
                  "test_step")


class PlugInError(ValueError):
  """A method that does not follow the plug-in contract."""


def module_path(name: str) -> str:
  """The module `config.method` names: `name` itself when it is a dotted
  path, else the package's `method` module."""
  return name if "." in name else f"{name}.method"


def load(name: str) -> MethodModule:
  """Imports the method `name` names.

  A plain name is imported only when it is a method package on the path
  (common/io/plugins.py decides from its files, before any import), so a
  config read from a workdir cannot run another module by naming it.

  Args:
    name: `config.method`, a method package or a module path.

  Returns:
    The method module.

  Raises:
    PlugInError (a ValueError): no such method, or its module lacks
      build_model/build_dataset.
  """
  name = str(name)
  if "." not in name and not plugins.is_method_package(name):
    raise PlugInError(
        f"method {name!r}: not a method package (a package holding "
        f"{', '.join(plugins.PLUG_IN_FILES)}); config.method names one, "
        "or a module path such as my_project.my_method")
  path = module_path(name)
  try:
    module = importlib.import_module(path)
  except ModuleNotFoundError as e:
    if e.name is None or not path.startswith(e.name):
      raise  # The method exists; something it imports does not.
    raise PlugInError(f"method {name!r}: no module {path} (config.method "
                      "names a package with a method.py, or a module path)"
                      ) from None
  missing = [f for f in PLUG_IN if not callable(getattr(module, f, None))]
  if missing:
    raise PlugInError(f"method {name!r}: {path} has no {', '.join(missing)}")
  return module


def check_model(model: Any, name: str = "the method") -> None:
  """Raises PlugInError naming what of TrainingModel `model` lacks."""
  missing = [f for f in MODEL_CONTRACT
             if not callable(getattr(model, f, None))]
  if missing or not isinstance(model, keras.Model):
    raise PlugInError(
        f"{name}: build_model returned {type(model).__name__}, which "
        + (f"has no {', '.join(missing)}" if missing else
           "is not a keras.Model")
        + " (common/train/method.py: TrainingModel; subclass "
        "common.models.learner.Learner)")


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
  check_model(model, f"method {config.get('method', '?')!r}")
  model.compile(optimizer=build_optimizer(config),
                jit_compile=bool(config.get("jit_compile", False)),
                steps_per_execution=config.get("steps_per_execution", 1))
  model.initialize()
  model.optimizer.build(getattr(model, "optimized_variables",
                                model.trainable_variables))
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
