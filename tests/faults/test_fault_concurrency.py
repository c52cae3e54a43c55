"""Two processes, one folder: the second refuses with one line naming the
holder, the first finishes untouched, and a killed holder leaves no stale
lock (common/io/folder_lock.py)."""

import json
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
import soundfile

from common.io import folder_lock
from common.train import callbacks
from tests import processes


def wait_for_lock(path, pid, timeout=120):
  deadline = time.time() + timeout
  while time.time() < deadline:
    try:
      with open(path) as f:
        if json.loads(f.read() or "{}").get("pid") == pid:
          return
    except (OSError, ValueError):
      pass
    time.sleep(0.05)
  pytest.fail("the first run never took its lock")


def test_a_second_training_on_a_busy_workdir_refuses(tmp_path, child_env):
  workdir = tmp_path / "run"
  command = processes.train_command(
      "cola", workdir, "--config.total_steps=24", "--config.steps_per_epoch=2")
  first = subprocess.Popen(command, env=child_env, cwd=processes.ROOT,
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                           text=True)
  try:
    wait_for_lock(workdir / folder_lock.LOCK_FILE, first.pid)
    second = processes.run(command, child_env)
    line = processes.error_line(second)
    assert f"pid {first.pid}" in line and str(workdir) in line
    assert "in use by training" in line
  finally:
    out, err = first.communicate(timeout=300)
  assert first.returncode == 0, err[-3000:]
  index = callbacks.read_index(str(workdir / "checkpoints"))
  assert index["step"] == 24
  names = sorted(os.listdir(workdir / "checkpoints"))
  assert names == sorted(index["history"] + [callbacks.INDEX])


def test_a_killed_holder_leaves_no_stale_lock(tmp_path, child_env):
  workdir = tmp_path / "run"
  command = processes.train_command("cola", workdir)
  first = subprocess.Popen(command, env=child_env, cwd=processes.ROOT,
                           stdout=subprocess.DEVNULL,
                           stderr=subprocess.DEVNULL)
  wait_for_lock(workdir / folder_lock.LOCK_FILE, first.pid)
  first.send_signal(signal.SIGKILL)
  first.wait()
  again = processes.run(command, child_env)
  assert again.returncode == 0, again.stderr[-3000:]


def test_a_second_prepare_on_a_busy_output_refuses(tmp_path, child_env):
  media = tmp_path / "media"
  media.mkdir()
  soundfile.write(media / "a.wav", np.zeros(32000, np.float32), 16000)
  output = tmp_path / "prepared"
  output.mkdir()
  # The holder is this process: flock refuses a second open of the file
  # wherever it comes from.
  with folder_lock.FolderLock(output, "the test's prepare"):
    second = processes.run(
        [sys.executable, "-m", "multimodal.prepare", f"--input={media}",
         f"--output={output}", "--clip_seconds=1", "--progress=false"],
        child_env)
    line = processes.error_line(second)
    assert f"the test's prepare pid {os.getpid()}" in line
    assert sorted(os.listdir(output)) == [folder_lock.LOCK_FILE]
  done = processes.run(
      [sys.executable, "-m", "multimodal.prepare", f"--input={media}",
       f"--output={output}", "--clip_seconds=1", "--progress=false"],
      child_env)
  assert done.returncode == 0, done.stderr[-3000:]


def test_the_lock_is_released_when_the_holder_ends(tmp_path):
  with folder_lock.FolderLock(tmp_path, "first"):
    with pytest.raises(folder_lock.FolderBusy, match="first pid"):
      with folder_lock.FolderLock(tmp_path, "second"):
        pass
  with folder_lock.FolderLock(tmp_path, "third"):
    pass
