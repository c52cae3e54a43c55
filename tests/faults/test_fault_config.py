"""Config values that cannot work are refused before any work starts, in
one line naming the key and what it allows."""

import os

import pytest

from cola.configs import tiny
from common.train import run_config
from tests import processes


@pytest.mark.parametrize("key,value,allowed", [
    ("keep_checkpoints", -1, ">= 1"), ("keep_checkpoints", 0, ">= 1"),
    ("batch_size", 0, ">= 1"), ("steps_per_epoch", 0, ">= 1"),
    ("total_steps", -1, ">= 0"), ("learning_rate", 0.0, "> 0"),
    ("learning_rate", float("nan"), "> 0"), ("crop_seconds", -1.0, "> 0"),
    ("shuffle_buffer", 0, ">= 1"),
    ("warmup_steps", 4, "0 to total_steps - 1"),
    ("mixed_precision", "float16", "mixed_float16"),
    ("sample_rate", 22050, "must be 16000"),
    ("total_steps", 5, "use total_steps=6"),
])
def test_a_value_that_cannot_work_is_refused(key, value, allowed):
  config = tiny.get_config()
  config[key] = value
  with pytest.raises(run_config.ConfigError) as error:
    run_config.check(config)
  assert f"config {key}=" in str(error.value) and allowed in str(error.value)


def test_the_defaults_pass():
  import importlib
  for name in ("cola.configs.default", "cola.configs.paper",
               "cola.configs.tiny", "multimodal.configs.default",
               "multimodal.configs.paper", "multimodal.configs.tiny"):
    run_config.check(importlib.import_module(name).get_config())


@pytest.mark.parametrize("args,expected", [
    (["--config.keep_checkpoints=-1"], "config keep_checkpoints=-1: must be"),
    (["--config.no_such_key=1"], "no config key 'no_such_key'"),
    (["--config.batch_size=abc"], "--config.batch_size=abc"),
    (["--strategy=mirrored", "--config.batch_size=7"],
     "batch_size=7 cannot be split between 2 replicas"),
    (["--config.frontend.sample_rate=22050"],
     "frontend.sample_rate=22050 differs from sample_rate=16000"),
    (["--config.crop_seconds=2.0"],
     "cannot embed the export windows of export_window_seconds=1.0"),
    # Misspelt keys and files: one line, where ml_collections raised a
    # 37- to 53-line traceback.
    (["--config.similarty=cosine"],
     "no config key 'similarty' (did you mean \"similarity\""),
    (["--config.encoder_kwargs.widht=3"],
     "no config key 'widht' (did you mean \"width\""),
])
def test_the_command_line_says_it_in_one_line(tmp_path, child_env, args,
                                              expected):
  workdir = tmp_path / "run"
  result = processes.run(processes.train_command("cola", workdir, *args),
                         child_env)
  assert expected in processes.error_line(result)
  # Nothing of a run was written.
  assert not os.path.exists(workdir / "checkpoints")
  assert not os.path.exists(workdir / "config.json")


def test_a_config_file_that_does_not_exist_is_one_line_exit_2(tmp_path,
                                                             child_env):
  command = processes.train_command("cola", tmp_path / "run")
  command = [c for c in command if not c.startswith("--config=")] + [
      "--config=cola/configs/papr.py"]
  result = processes.run(command, child_env)
  assert result.returncode == 2
  assert processes.error_line(result) == (
      "error: --config=cola/configs/papr.py: no such file (OSError)")
  assert "Traceback" not in result.stderr
