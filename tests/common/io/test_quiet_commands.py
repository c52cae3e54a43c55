"""The commands print what their user needs, not TensorFlow's start-up
and export noise (common/io/quiet.py); `--verbosity` brings it back."""

import re
import subprocess
import sys

import numpy as np
import soundfile

from tests import processes

ROOT = processes.ROOT
NOISE = re.compile(
    r"port\.cc|oneDNN|cudart_stub|cpu_feature_guard|cuInit|"
    r"absl::InitializeLog|signature_serialization|unsupported characters|"
    r"Sharding callback|Assets written|fingerprint|XNNPACK delegate|"
    r"loader\.cc|reader\.cc|flatbuffer_export")


def _environment(child_env):
  env = dict(child_env)
  env.pop("TF_CPP_MIN_LOG_LEVEL", None)  # What a user's shell has.
  return env


def _run(command, env):
  result = subprocess.run(command, cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=600)
  assert result.returncode == 0, result.stderr[-3000:]
  return result


def test_train_export_and_embed_print_no_tensorflow_noise(tmp_path,
                                                          child_env):
  env = _environment(child_env)
  workdir = str(tmp_path / "run")
  train = _run(processes.train_command("cola", workdir), env)
  export = _run([sys.executable, "-m", "common.export",
                 f"--workdir={workdir}", f"--output={tmp_path / 'sm'}",
                 "--tflite"], env)
  clips = tmp_path / "clips"
  clips.mkdir()
  soundfile.write(clips / "a.wav", np.zeros(16000, np.float32), 16000)
  embed = _run([sys.executable, "-m", "common.embed",
                f"--model={tmp_path / 'sm.tflite'}", f"--input={clips}",
                f"--output={tmp_path / 'e.npz'}"], env)
  for result, done in ((train, "done: 4 steps"),
                       (export, "TFLite model written"),
                       (embed, "1 files embedded")):
    assert done in result.stdout
    noise = [l for l in (result.stdout + result.stderr).splitlines()
             if NOISE.search(l)]
    assert not noise, noise
  # The command's own log lines stay.
  assert "strategy cpu with 1 replicas" in train.stderr


def test_verbosity_brings_tensorflow_logs_back(tmp_path, child_env):
  result = _run([sys.executable, "-m", "common.export",
                 f"--workdir={_trained(tmp_path, child_env)}",
                 f"--output={tmp_path / 'sm'}", "--verbosity=0"],
                _environment(child_env))
  assert NOISE.search(result.stderr), result.stderr[-2000:]


def _trained(tmp_path, child_env):
  workdir = str(tmp_path / "run")
  _run(processes.train_command("cola", workdir), child_env)
  return workdir
