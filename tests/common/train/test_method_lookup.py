"""Methods are found by the module path their config names; common/ names
none of them. A method written outside the project trains through the
same path."""

import sys
import textwrap

import pytest

from cola.configs import tiny
from common.train import method as method_lib
from common.train import runs
from common.train import trainer


def test_a_package_name_is_its_method_module():
  import cola.method
  assert method_lib.load("cola") is cola.method
  assert method_lib.load("cola.method") is cola.method
  assert method_lib.module_path("multimodal") == "multimodal.method"


def test_an_unknown_method_is_one_clear_error():
  with pytest.raises(ValueError, match="'nothing_here': not a method package"):
    method_lib.load("nothing_here")
  with pytest.raises(ValueError, match="no module nothing_here.method"):
    method_lib.load("nothing_here.method")


def test_a_name_that_is_no_method_package_is_refused_before_any_import():
  """`"method": "this"` in a workdir's config.json must not import the
  `this` module (its import prints the Zen of Python)."""
  sys.modules.pop("this", None)
  with pytest.raises(ValueError, match="'this': not a method package"):
    method_lib.load("this")
  assert "this" not in sys.modules


def test_a_model_without_the_contract_is_refused_with_what_it_lacks():
  class NoAdapt:
    pass

  class Module:
    build_model = staticmethod(lambda config: NoAdapt())

  with pytest.raises(ValueError, match="NoAdapt, which has no initialize, "
                     "adapt, embedding_model"):
    method_lib.build_initialized_model(Module, tiny.get_config())


def test_a_module_without_the_plug_in_functions_is_refused():
  with pytest.raises(ValueError, match="common.io.paths has no build_model, "
                     "build_dataset"):
    method_lib.load("common.io.paths")


def test_a_method_of_ones_own_package_trains_and_restores(tmp_path,
                                                          monkeypatch):
  package = tmp_path / "my_methods"
  package.mkdir()
  (package / "__init__.py").write_text("")
  (package / "louder_cola.py").write_text(textwrap.dedent('''
      """COLA with its own name: a method of a user's package."""
      from cola import data
      from cola import model

      def build_model(config):
        return model.Cola(config)

      def build_dataset(config, data_spec, batch_size):
        return data.build_dataset(config, data_spec, batch_size)
  '''))
  monkeypatch.syspath_prepend(str(tmp_path))
  config = tiny.get_config()
  config.method = "my_methods.louder_cola"
  config.total_steps = 2
  config.steps_per_epoch = 2
  workdir = str(tmp_path / "run")
  summary = trainer.train(config, workdir=workdir, verbose=0)
  assert summary["steps"] == 2 and summary["method"] == config.method
  restored, model = runs.restore_model(workdir)
  assert restored.method == "my_methods.louder_cola"
  assert type(model).__module__ == "cola.model"
  sys.modules.pop("my_methods.louder_cola", None)
  sys.modules.pop("my_methods", None)
