"""Paths read from the tools' own state files, and the outputs they
write, stay inside their folder: crafted entries and links that lead out
are refused before anything is loaded, deleted or written."""

import json
import os
import sys

import pytest

from cola.configs import tiny
from common.eval import evaluate
from common.io import paths
from common.io import state_files
from common.train import callbacks
from common.train import trainer
from tests import processes
from tests import seed_models


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
  import pathlib
  return pathlib.Path(seed_models.tiny_workdir(
      str(tmp_path_factory.getbasetemp())))


@pytest.mark.parametrize("entry", ["../../victim.txt", "/tmp/victim.txt",
                                   "sub/ckpt-00000002.weights.h5", 7])
def test_a_crafted_checkpoint_index_is_refused(tmp_path, entry):
  victim = tmp_path / "victim.txt"
  victim.write_text("precious")
  checkpoints = tmp_path / "run" / "checkpoints"
  checkpoints.mkdir(parents=True)
  (checkpoints / callbacks.INDEX).write_text(json.dumps({
      "epoch": 1, "step": 2, "weights": "ckpt-00000002.weights.h5",
      "history": [entry, "ckpt-00000002.weights.h5"]}))
  with pytest.raises(state_files.DamagedFile, match="refusing to use it"):
    callbacks.read_index(str(checkpoints))
  config = tiny.get_config()
  with pytest.raises(state_files.DamagedFile, match="refusing to use it"):
    trainer.train(config, workdir=str(tmp_path / "run"), verbose=0)
  assert victim.read_text() == "precious"


def test_evaluate_does_not_write_through_a_link_in_the_workdir(
    trained, tmp_path, child_env):
  elsewhere = tmp_path / "elsewhere"
  elsewhere.mkdir()
  link = trained / "eval"
  os.symlink(elsewhere, link)
  try:
    result = processes.run(
        [sys.executable, "-m", "common.evaluate", f"--model={trained}",
         "--task=synthetic:16", "--mode=linear", "--steps=1"], child_env)
  finally:
    os.remove(link)
  line = processes.error_line(result)
  assert "outside" in line and str(link) in line
  assert not os.listdir(elsewhere)


def test_evaluate_results_do_not_follow_links_out(tmp_path):
  outside = tmp_path / "outside.md"
  outside.write_text("precious")
  results = tmp_path / "results"
  results.mkdir()
  os.symlink(outside, results / "table.md")
  with pytest.raises(paths.UnsafePath):
    evaluate.write_table({}, [], str(results))
  assert outside.read_text() == "precious"
