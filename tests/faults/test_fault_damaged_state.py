"""Damaged state: a resume falls back to the newest checkpoint that loads
and says so, or stops with one line naming the file and the way out."""

import json
import os

import pytest

from cola.configs import tiny
from common.io import state_files
from common.train import callbacks
from common.train import runs
from common.train import trainer
from tests import processes


def train(workdir, **overrides):
  config = tiny.get_config()
  config.update(overrides)
  return trainer.train(config, workdir=str(workdir), verbose=0)


def cut(path, keep=0.5):
  with open(path, "rb") as f:
    data = f.read()
  with open(path, "wb") as f:
    f.write(data[:int(len(data) * keep)])


def test_a_cut_latest_checkpoint_falls_back_to_the_one_before(tmp_path,
                                                             capsys):
  train(tmp_path)  # Commits steps 2 and 4.
  checkpoints = str(tmp_path / "checkpoints")
  cut(callbacks.latest_weights(checkpoints))
  summary = train(tmp_path, total_steps=6)
  out = capsys.readouterr().out
  assert ("resumed from the older checkpoint ckpt-00000002.weights.h5 "
          "(step 2): ckpt-00000004.weights.h5 cannot be read") in out
  assert summary["steps"] == 6 and summary["steps_this_run"] == 4


def test_every_checkpoint_cut_is_one_error_naming_them(tmp_path):
  train(tmp_path)
  checkpoints = str(tmp_path / "checkpoints")
  for name in callbacks.read_index(checkpoints)["history"]:
    cut(os.path.join(checkpoints, name))
  with pytest.raises(state_files.DamagedFile,
                     match="no committed checkpoint .* can be read"):
    train(tmp_path, total_steps=6)


def test_a_cut_checkpoint_index_names_itself_and_the_way_out(tmp_path,
                                                             child_env):
  workdir = tmp_path / "run"
  assert processes.run(processes.train_command("cola", workdir),
                       child_env).returncode == 0
  index = workdir / "checkpoints" / callbacks.INDEX
  cut(index)
  result = processes.run(processes.train_command(
      "cola", workdir, "--config.total_steps=6"), child_env)
  line = processes.error_line(result)
  assert str(index) in line and "is damaged" in line
  assert "move the checkpoints folder aside" in line


def test_a_cut_config_names_itself(tmp_path):
  train(tmp_path)
  cut(tmp_path / "config.json")
  with pytest.raises(state_files.DamagedFile, match="config.json is damaged"):
    runs.read_config(str(tmp_path))
  with pytest.raises(state_files.DamagedFile, match="config.json is damaged"):
    train(tmp_path, total_steps=6)


def test_a_resume_with_another_architecture_keeps_the_config(tmp_path):
  train(tmp_path)
  with open(tmp_path / "config.json", "rb") as f:
    before = f.read()
  config = tiny.get_config()
  config.encoder_kwargs.width = 8
  with pytest.raises(callbacks.CheckpointMismatch,
                     match="does not fit the model this config builds"):
    trainer.train(config, workdir=str(tmp_path), verbose=0)
  with open(tmp_path / "config.json", "rb") as f:
    assert f.read() == before
  assert json.loads(before)["encoder_kwargs"]["width"] == 4


def test_a_cut_manifest_rewrites_its_shard(tmp_path):
  import numpy as np
  import soundfile
  from multimodal import prepare
  from common.io import media as media_lib
  media = tmp_path / "media"
  media.mkdir()
  for i in range(3):
    soundfile.write(media / f"a{i}.wav", np.full(16000, 0.1, np.float32),
                    16000)
  settings = media_lib.ClipSettings(clip_seconds=1.0, fps=0)
  output = tmp_path / "prepared"
  prepare.prepare(str(media), str(output), settings, num_shards=1,
                  progress=False)
  manifest = output / prepare.MANIFESTS / (
      "clips-00000-of-00001.tfrecord.json")
  cut(manifest)
  summary = prepare.prepare(str(media), str(output), settings,
                            progress=False)
  assert summary["this_run"]["shards_written"] == 1
  assert summary["clips_written"] == 3
  assert json.loads(manifest.read_text())["clips"] == 3
