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

from common import callbacks

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
