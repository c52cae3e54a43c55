"""The encoder registry: one leaf registry for every input format, and
options checked against each encoder's signature."""

import ast
import pathlib

import pytest

from cola.configs import default as cola_default
from common.io import plugins
from common.models import encoders
from common.models import registry
from common.train import run_config
from multimodal.configs import default as multimodal_default

ROOT = pathlib.Path(__file__).resolve().parents[3]


def test_every_format_registers_into_one_registry():
  assert {"tiny", "audio_cnn", "efficientnet_b0", "resnet50", "waveform_tiny",
          "waveform_cnn", "video_tiny", "video_small", "video_tsm"} <= set(
              encoders.names())


def test_the_registry_imports_nothing_of_the_project():
  tree = ast.parse((ROOT / "common/models/registry.py").read_text())
  imported = [n.module or "" for n in ast.walk(tree)
              if isinstance(n, ast.ImportFrom)] + [
                  a.name for n in ast.walk(tree) if isinstance(n, ast.Import)
                  for a in n.names]
  assert not [m for m in imported if m.split(".")[0] in
              ("common", *plugins.method_packages())], imported


def test_an_option_the_encoder_does_not_take_names_its_options():
  with pytest.raises(ValueError) as error:
    encoders.build("efficientnet_b0", (96, 64, 1), width=4, depth=2,
                   embedding_dim=256)
  message = str(error.value)
  assert "has no option depth, embedding_dim, width" in message
  assert "pooling, undo_input_rescaling" in message


def test_an_unknown_encoder_lists_the_known_ones():
  with pytest.raises(ValueError, match="unknown encoder 'nope'.*audio_cnn"):
    encoders.build("nope", (1,))


def test_options_are_the_builders_keywords():
  assert encoders.options("tiny") == {
      "width": 16, "depth": 4, "embedding_dim": 256, "pooling": "max",
      "batch_norm": True}


def test_the_config_check_refuses_another_encoders_options_before_any_work():
  config = cola_default.get_config()
  config.encoder = "efficientnet_b0"  # audio_cnn's kwargs stay.
  with pytest.raises(run_config.ConfigError,
                     match="config encoder='efficientnet_b0'.*has no option"):
    run_config.check(config)
  config = multimodal_default.get_config()
  config.video_encoder_kwargs.unknown = 1
  with pytest.raises(run_config.ConfigError,
                     match="config video_encoder='video_small'.*unknown"):
    run_config.check(config)


def test_the_default_configs_pass_the_check():
  run_config.check(cola_default.get_config())
  run_config.check(multimodal_default.get_config())


def test_a_name_registered_twice_is_an_error():
  table = registry.Registry("thing")
  table.register("a")(lambda: None)
  with pytest.raises(ValueError, match="thing 'a' is registered twice"):
    table.register("a")(lambda: None)
