"""Safety of loading and writing: nothing unpickles or runs code from user
files, Keras stays in safe mode, the exported graph holds no Python, and
the tools write only inside the folder the command line names."""

import os
import re
import subprocess
import sys

import numpy as np
import pytest
import soundfile
from tensorflow.core.protobuf import saved_model_pb2

from common.io import paths
from common.io import plugins
from common.serve import export
from common.train import method as method_lib
from common.train import runs
from common.train import trainer
from tests import processes

ROOT = processes.ROOT
PACKAGES = ("common", *plugins.method_packages(), "benchmarks")
FORBIDDEN = {
    "pickle": r"\bimport\s+c?pickle\b|\bfrom\s+c?pickle\b|\bc?pickle\.",
    "allow_pickle=True": r"allow_pickle\s*=\s*True",
    "other unpicklers": r"\b(dill|cloudpickle|shelve|marshal|joblib)\b",
    "yaml.load": r"yaml\.(unsafe_)?load\(",
    "Keras unsafe mode": r"safe_mode\s*=\s*False|enable_unsafe_deserial",
    "eval/exec": r"(?<![\w.])(eval|exec)\(",
    "torch.load": r"torch\.load\(",
}
PYTHON_OPS = {"PyFunc", "PyFuncStateless", "EagerPyFunc"}


def source_files():
  for package in PACKAGES:
    for base, _, names in os.walk(os.path.join(ROOT, package)):
      for name in sorted(names):
        if name.endswith(".py"):
          yield os.path.join(base, name)
  yield os.path.join(ROOT, "setup.py")


def test_no_pickle_or_code_loading_in_the_source_tree():
  found = []
  for path in source_files():
    with open(path, encoding="utf-8") as f:
      for number, line in enumerate(f, 1):
        code = line.split("#", 1)[0]
        for what, pattern in FORBIDDEN.items():
          if re.search(pattern, code):
            found.append(f"{os.path.relpath(path, ROOT)}:{number}: {what}: "
                         f"{line.strip()}")
  assert not found, "\n".join(found)
  assert len(list(source_files())) > 20  # The walk saw the tree.


def test_keras_stays_in_safe_mode_after_importing_everything():
  import importlib
  from keras.src.saving import serialization_lib
  for path in source_files():
    module = os.path.relpath(path, ROOT)[:-3].replace(os.sep, ".")
    if module.endswith("__init__") or module == "setup":
      continue
    if module in ("common.export", "multimodal.prepare") or (
        module.endswith((".train", ".run"))):
      continue  # Command-line modules define absl flags at import.
    importlib.import_module(module)
  assert serialization_lib.in_safe_mode() is not False


def test_a_pickle_disguised_as_audio_is_not_unpickled(tmp_path):
  """An object array saved by numpy is a pickle; reading it as audio must
  fail as unreadable, never run what it carries."""
  from common.data import data_sources
  marker = tmp_path / "ran"
  np.save(tmp_path / "x.npy",
          np.array([Payload(str(marker))], dtype=object), allow_pickle=True)
  os.rename(tmp_path / "x.npy", tmp_path / "evil.wav")
  soundfile.write(tmp_path / "good.wav", np.zeros(1600, np.float32), 16000)
  bank = data_sources.files_bank(str(tmp_path), progress=False)
  assert bank.skipped.counts == {"unreadable": 1}
  assert not marker.exists()


class Payload:
  """What a malicious pickle would do: leave a file behind when loaded."""

  def __init__(self, marker):
    self.marker = marker

  def __reduce__(self):
    return (open, (self.marker, "w"))


def graph_ops(saved_model_dir):
  model = saved_model_pb2.SavedModel()
  with open(os.path.join(saved_model_dir, "saved_model.pb"), "rb") as f:
    model.ParseFromString(f.read())
  ops = set()
  for meta in model.meta_graphs:
    ops |= {node.op for node in meta.graph_def.node}
    for function in meta.graph_def.library.function:
      ops |= {node.op for node in function.node_def}
  return ops


@pytest.mark.parametrize("method", plugins.method_packages())
def test_exported_graph_holds_no_python(tmp_path, method):
  import importlib
  # A method that does not import fails here: it is no skip.
  tiny = importlib.import_module(f"{method}.configs.tiny")
  method_module = method_lib.load(method)
  config = tiny.get_config()
  model = method_lib.build_initialized_model(method_module, config)
  path = export.export_saved_model(
      model.embedding_model(), str(tmp_path / "saved_model"),
      config.sample_rate, config.export_window_seconds,
      config.export_hop_seconds)
  ops = graph_ops(path)
  assert "CheckNumerics" in ops or "CheckNumericsV2" in ops  # Read it all.
  assert not ops & PYTHON_OPS, ops & PYTHON_OPS


# Writing through links -----------------------------------------------------


def tiny_config():
  from cola.configs import tiny
  config = tiny.get_config()
  config.total_steps = 2
  return config


def snapshot(folder):
  return sorted(os.listdir(folder))


@pytest.mark.parametrize("entry", trainer.WORKDIR_ENTRIES)
def test_a_workdir_entry_linking_outside_is_refused(tmp_path, entry):
  workdir, outside = tmp_path / "run", tmp_path / "elsewhere"
  outside.mkdir()
  (outside / "precious.txt").write_text("keep me")
  target = outside if "." not in entry else outside / "precious.txt"
  os.makedirs(os.path.dirname(workdir / entry), exist_ok=True)
  os.symlink(target, workdir / entry)
  with pytest.raises(paths.UnsafePath, match="outside"):
    trainer.train(tiny_config(), workdir=str(workdir), verbose=0)
  assert snapshot(outside) == ["precious.txt"]
  assert (outside / "precious.txt").read_text() == "keep me"


def test_links_that_stay_inside_the_workdir_are_fine(tmp_path):
  workdir = tmp_path / "run"
  (workdir / "my_logs").mkdir(parents=True)
  os.symlink(workdir / "my_logs", workdir / "logs")
  summary = trainer.train(tiny_config(), workdir=str(workdir), verbose=0)
  assert summary["steps"] == 2
  assert os.listdir(workdir / "my_logs" / "train")


def test_the_command_refuses_in_one_line(tmp_path, child_env):
  workdir, outside = tmp_path / "run", tmp_path / "elsewhere"
  workdir.mkdir()
  outside.mkdir()
  os.symlink(outside, workdir / "checkpoints")
  result = subprocess.run(
      [sys.executable, "-m", "cola.train",
       f"--config={os.path.join(ROOT, 'cola', 'configs', 'tiny.py')}",
       f"--workdir={workdir}"], cwd=ROOT, env=child_env,
      capture_output=True, text=True, timeout=300)
  assert result.returncode == 1
  errors = [l for l in result.stderr.splitlines() if l.startswith("error:")]
  assert len(errors) == 1 and "Traceback" not in result.stderr
  assert "checkpoints leads to" in errors[0] and not os.listdir(outside)


def test_export_does_not_replace_or_follow_links(tmp_path):
  from cola import model as cola_model
  from cola.configs import tiny
  model = cola_model.Cola(tiny.get_config())
  model.initialize()
  outside = tmp_path / "elsewhere"
  outside.mkdir()
  (outside / "precious.txt").write_text("keep me")
  os.symlink(outside, tmp_path / "saved_model")
  with pytest.raises(paths.UnsafePath, match="symbolic link"):
    export.export_saved_model(model.embedding_model(),
                              str(tmp_path / "saved_model"))
  assert snapshot(outside) == ["precious.txt"]
  # A workdir whose saved_model/ leads outside is refused before loading.
  workdir = tmp_path / "run"
  workdir.mkdir()
  (workdir / "config.json").write_text('{"method": "cola"}')
  os.symlink(outside, workdir / "saved_model")
  with pytest.raises(paths.UnsafePath, match="outside"):
    runs.export_workdir(str(workdir))
  assert snapshot(outside) == ["precious.txt"]


def test_prepare_does_not_write_manifests_through_a_link(tmp_path):
  from multimodal import prepare
  from common.io import media
  inputs, output, outside = (tmp_path / n for n in ("in", "out", "else"))
  for folder in (inputs, output, outside):
    folder.mkdir()
  soundfile.write(inputs / "a.wav", np.zeros(16000, np.float32), 16000)
  os.symlink(outside, output / prepare.MANIFESTS)
  with pytest.raises(paths.UnsafePath, match="outside"):
    prepare.prepare(str(inputs), str(output),
                    media.ClipSettings(clip_seconds=1.0, fps=0.0),
                    progress=False)
  assert not os.listdir(outside)
