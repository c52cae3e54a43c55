"""Writes that fail (a full disk, a quota): each ends with one `error:`
line naming what could not be written, the last committed state stays
loadable, and the next run removes the temporaries and goes on.

The failing write is real: the child process may not grow a file past a
size limit (RLIMIT_FSIZE), so the kernel refuses the write as it would on
a full disk (EFBIG there, ENOSPC on a disk; the code paths are the same);
where a test may mount a small tmpfs, a run also fills a real one.
"""

import glob
import os
import shutil
import subprocess
import sys

import h5py
import numpy as np
import pytest
import soundfile
import tensorflow as tf

from common.train import callbacks
from tests import processes


def _temporaries(folder):
  return [p for p in glob.glob(os.path.join(folder, "**", "*"),
                               recursive=True)
          if ".tmp-" in os.path.basename(p)] + glob.glob(
              os.path.join(folder, "*.tmp-*")) + glob.glob(
                  os.path.join(folder, ".*.tmp-*"))


def test_a_checkpoint_that_cannot_be_written(tmp_path, child_env):
  workdir = tmp_path / "run"
  first = processes.run(processes.train_command(
      "cola", workdir, "--config.total_steps=2"), child_env)
  assert first.returncode == 0, first.stderr[-3000:]
  checkpoints = str(workdir / "checkpoints")
  size = os.path.getsize(callbacks.latest_weights(checkpoints))
  full = processes.run(
      processes.train_command("cola", workdir, "--config.total_steps=4"),
      child_env, preexec_fn=processes.limit_file_size(size // 2))
  line = processes.error_line(full)
  assert "could not write checkpoint ckpt-00000004.weights.h5" in line
  assert "ckpt-00000002.weights.h5, is intact" in line
  assert not _temporaries(checkpoints)
  assert callbacks.read_index(checkpoints)["step"] == 2
  again = processes.run(processes.train_command(
      "cola", workdir, "--config.total_steps=4"), child_env)
  assert again.returncode == 0, again.stderr[-3000:]
  assert callbacks.read_index(checkpoints)["step"] == 4
  assert not _temporaries(str(workdir))


def test_an_export_that_cannot_be_written(tmp_path, child_env):
  workdir = tmp_path / "run"
  first = processes.run(processes.train_command("cola", workdir), child_env)
  assert first.returncode == 0, first.stderr[-3000:]
  saved = workdir / "saved_model"
  loaded = tf.saved_model.load(str(saved))
  before = loaded.embed(tf.zeros([1, 16000]))["embedding"].numpy()
  export = [sys.executable, "-m", "common.export", f"--workdir={workdir}"]
  full = processes.run(export, child_env,
                       preexec_fn=processes.limit_file_size(4096))
  line = processes.error_line(full)
  assert f"could not write the SavedModel {saved}" in line
  assert "the previous export there is intact" in line
  assert not _temporaries(str(workdir))
  loaded = tf.saved_model.load(str(saved))
  after = loaded.embed(tf.zeros([1, 16000]))["embedding"].numpy()
  np.testing.assert_array_equal(before, after)


def test_a_shard_that_cannot_be_written(tmp_path, child_env):
  media = tmp_path / "media"
  media.mkdir()
  rng = np.random.default_rng(0)
  for i in range(4):
    soundfile.write(media / f"a{i}.wav",
                    0.1 * rng.standard_normal(48000).astype(np.float32), 16000)
  output = tmp_path / "prepared"
  command = [sys.executable, "-m", "multimodal.prepare", f"--input={media}",
             f"--output={output}", "--clip_seconds=1", "--fps=0",
             "--num_shards=2", "--progress=false"]
  full = processes.run(command, child_env,
                       preexec_fn=processes.limit_file_size(20000))
  line = processes.error_line(full)
  assert "could not write shard" in line and "File too large" in line
  again = processes.run(command, child_env)
  assert again.returncode == 0, again.stderr[-3000:]
  assert "12 clips" in again.stdout and "from 4 of 4 inputs" in again.stdout
  assert not _temporaries(str(output))


def test_a_full_tmpfs_workdir(tmp_path, child_env):
  """The same on a real full disk (ENOSPC), where the machine lets a test
  mount a small tmpfs (root in a container that allows it)."""
  if shutil.which("mount") is None:
    pytest.skip("no mount command here")
  disk = tmp_path / "disk"
  disk.mkdir()
  mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=150k",
                            "tmpfs", str(disk)], capture_output=True)
  if mounted.returncode:
    pytest.skip(f"cannot mount a tmpfs here: {mounted.stderr.decode()}")
  try:
    workdir = disk / "run"
    full = processes.run(processes.train_command("cola", workdir), child_env)
    line = processes.error_line(full)
    assert "No space left on device" in line
    committed = callbacks.read_index(str(workdir / "checkpoints"))
    if committed is not None:  # What is committed loads.
      with h5py.File(callbacks.latest_weights(
          str(workdir / "checkpoints")), "r"):
        pass
    subprocess.run(["mount", "-o", "remount,size=4m", str(disk)], check=True)
    again = processes.run(processes.train_command("cola", workdir),
                          child_env)
    assert again.returncode == 0, again.stderr[-3000:]
    assert not _temporaries(str(workdir))
  finally:
    subprocess.run(["umount", str(disk)], capture_output=True)
