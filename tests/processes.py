"""Child-process helpers the training tests share: the training command,
killing a run once it has committed a checkpoint, and localhost clusters
for multi-worker runs."""

import json
import os
import signal
import socket
import subprocess
import sys
import time

import pytest

from common.train import callbacks

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def train_command(package, workdir, *extra):
  """`python -m PACKAGE.train` on PACKAGE/configs/tiny.py in `workdir`."""
  tiny = os.path.join(ROOT, package, "configs", "tiny.py")
  return [sys.executable, "-m", f"{package}.train", f"--config={tiny}",
          f"--workdir={workdir}", *extra]


def kill_after_checkpoint(command, env, workdir, min_step, timeout=240):
  """Starts `command`, SIGKILLs it once its committed checkpoint is at
  `min_step` or later, and returns the step of that checkpoint."""
  process = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL,
                             stderr=subprocess.DEVNULL)
  index_dir = os.path.join(str(workdir), "checkpoints")
  deadline = time.time() + timeout
  while time.time() < deadline:
    index = callbacks.read_index(index_dir) if os.path.exists(
        os.path.join(index_dir, callbacks.INDEX)) else None
    if index and index["step"] >= min_step:
      break
    time.sleep(0.05)
  else:
    process.kill()
    process.wait()
    pytest.fail("no checkpoint within the deadline")
  process.send_signal(signal.SIGKILL)
  process.wait()
  return callbacks.read_index(index_dir)["step"]


def free_ports(count):
  sockets = [socket.socket() for _ in range(count)]
  for s in sockets:
    s.bind(("localhost", 0))
  ports = [s.getsockname()[1] for s in sockets]
  for s in sockets:
    s.close()
  return ports


def worker_env(env, ports, index):
  """`env` plus the TF_CONFIG of worker `index` of a localhost cluster."""
  cluster = {"worker": [f"localhost:{p}" for p in ports]}
  return dict(env, TF_CONFIG=json.dumps(
      {"cluster": cluster, "task": {"type": "worker", "index": index}}))


def limit_file_size(max_bytes):
  """A preexec_fn: files the child writes cannot grow past `max_bytes`
  (writes fail with EFBIG, as on a full disk they fail with ENOSPC)."""
  import resource

  def apply():
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    resource.setrlimit(resource.RLIMIT_FSIZE, (max_bytes, max_bytes))
  return apply


def run(command, env, timeout=300, **kwargs):
  """Runs `command` to its end; the CompletedProcess (text output)."""
  return subprocess.run(command, env=env, cwd=ROOT, capture_output=True,
                        text=True, errors="replace", timeout=timeout,
                        **kwargs)


def error_line(result):
  """The last line of a failed command's stderr, which must be its one
  `error:` line (and no traceback above it from our code)."""
  lines = [l for l in result.stderr.splitlines() if l.strip()]
  assert result.returncode != 0, result.stderr[-3000:]
  assert lines and lines[-1].startswith("error: "), result.stderr[-3000:]
  assert "Traceback" not in result.stderr, result.stderr[-3000:]
  return lines[-1]
