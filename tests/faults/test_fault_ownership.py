"""A command replaces only what it wrote: an export folder holding a user's
files, a user's file given as the output, a lock file that is a link, a
workdir whose saved_model/ holds a user's file. Each is refused before any
work, in one line, and the user's files are left as they were."""

import os
import subprocess
import sys

import pytest

from cola.configs import tiny
from common.io import paths
from common.serve import export
from common.train import runs
from common.train import trainer
from tests import processes
from tests import seed_models


@pytest.fixture(scope="module")
def workdir(tmp_path_factory):
  return seed_models.tiny_workdir(str(tmp_path_factory.getbasetemp()))


def users_folder(root):
  folder = root / "exported"
  (folder / "sub").mkdir(parents=True)
  (folder / "thesis.txt").write_text("four years of work")
  (folder / "sub" / "data.csv").write_text("a,b\n1,2\n")
  return folder


def test_export_into_a_folder_of_the_users_files_is_refused(
    workdir, tmp_path, child_env):
  folder = users_folder(tmp_path)
  result = subprocess.run(
      [sys.executable, "-m", "common.export", f"--workdir={workdir}",
       f"--output={folder}"], env=child_env, cwd=processes.ROOT,
      capture_output=True, text=True, timeout=300)
  assert result.returncode == 1
  assert processes.error_line(result) == (
      f"error: {folder} holds files that are not a SavedModel (sub, "
      "thesis.txt): refusing to replace them; give --output a new or empty "
      "folder")
  assert (folder / "thesis.txt").read_text() == "four years of work"
  assert (folder / "sub" / "data.csv").read_text() == "a,b\n1,2\n"
  assert sorted(os.listdir(tmp_path)) == ["exported"]  # Nothing moved aside.


def test_export_over_a_users_file_is_refused_and_the_file_kept(
    workdir, tmp_path):
  target = tmp_path / "notes.txt"
  target.write_text("mine")
  with pytest.raises(export.NotOurs, match="is a file, not a SavedModel"):
    runs.export_workdir(workdir, str(target))
  assert target.read_text() == "mine"
  assert sorted(os.listdir(tmp_path)) == ["notes.txt"]


def test_a_saved_model_is_still_replaced(workdir, tmp_path):
  path = str(tmp_path / "sm")
  runs.export_workdir(workdir, path)
  runs.export_workdir(workdir, path)  # An export of ours: replaced.
  assert os.path.exists(os.path.join(path, export.SAVED_MODEL_FILE))


def test_a_lock_file_that_is_a_link_is_never_followed(workdir, tmp_path):
  import shutil
  copy = tmp_path / "run"
  shutil.copytree(workdir, copy, ignore=shutil.ignore_patterns(".lock"))
  precious = tmp_path / "precious.txt"
  precious.write_text("do not truncate")
  os.symlink(precious, copy / ".lock")
  with pytest.raises(paths.UnsafePath, match="is a symbolic link"):
    runs.export_workdir(str(copy))
  assert precious.read_text() == "do not truncate"


def test_a_workdir_whose_saved_model_holds_a_users_file_trains_nothing(
    tmp_path):
  workdir = tmp_path / "run"
  (workdir / "saved_model").mkdir(parents=True)
  (workdir / "saved_model" / "mymodel.txt").write_text("mine")
  with pytest.raises(export.NotOurs, match="mymodel.txt"):
    trainer.train(tiny.get_config(), workdir=str(workdir), verbose=0)
  assert (workdir / "saved_model" / "mymodel.txt").read_text() == "mine"
  assert not (workdir / "checkpoints").exists()


def test_a_run_leaves_the_users_files_in_its_checkpoint_folder(tmp_path,
                                                               caplog):
  workdir = tmp_path / "run"
  (workdir / "checkpoints").mkdir(parents=True)
  backup = workdir / "checkpoints" / "ckpt-mybackup.txt"
  draft = workdir / "checkpoints" / ".tmp-draft"
  backup.write_text("my backup")
  draft.write_text("my draft")
  with caplog.at_level("WARNING"):
    trainer.train(tiny.get_config(), workdir=str(workdir), verbose=0)
  assert backup.read_text() == "my backup" and draft.read_text() == "my draft"
  assert any("did not write" in r.getMessage() and "ckpt-mybackup.txt" in
             r.getMessage() for r in caplog.records)
  # Its own checkpoints are there as usual.
  assert (workdir / "checkpoints" / "ckpt-00000004.weights.h5").exists()
