"""Two COLA workers on localhost (MultiWorkerMirroredStrategy through
TF_CONFIG): killing one ends the other with a one-line error within a
bound, not a hang; starting both again with the same commands resumes
from the last checkpoint and finishes the run."""

import json
import os
import signal
import subprocess
import time

import pytest
import tensorflow as tf

from common.train import callbacks
from common.train import cli
from tests import processes

ROOT = processes.ROOT
TOTAL_STEPS = 40
# A reset connection fails the survivor's next collective at once; the
# coordination service notices a frozen worker after ~10 s of heartbeats.
BOUND_SECONDS = 60


def start_workers(workdir, ports, env, logs):
  workers = []
  for index in range(2):
    worker_env = processes.worker_env(env, ports, index)
    log = open(logs / f"worker{index}-{time.monotonic_ns()}.log", "w+")
    workers.append((subprocess.Popen(
        processes.train_command(
            "cola", workdir, "--strategy=multi_worker",
            f"--config.total_steps={TOTAL_STEPS}",
            "--config.steps_per_epoch=2"),
        cwd=ROOT, env=worker_env, stdout=log, stderr=subprocess.STDOUT),
                    log))
  return workers


def output(worker):
  _, log = worker
  log.seek(0)
  return log.read()


def stop(workers):
  for proc, _ in workers:
    if proc.poll() is None:
      proc.kill()
      proc.wait()


@pytest.mark.slow
def test_a_killed_worker_ends_the_run_and_both_resume(tmp_path, child_env):
  workdir, logs = tmp_path / "run", tmp_path / "logs"
  logs.mkdir()
  ports = processes.free_ports(2)
  workers = start_workers(workdir, ports, child_env, logs)
  try:
    index_dir = str(workdir / "checkpoints")
    deadline = time.monotonic() + 300
    index = None
    while time.monotonic() < deadline:
      if os.path.exists(os.path.join(index_dir, callbacks.INDEX)):
        index = callbacks.read_index(index_dir)
        if index["step"] >= 4:
          break
      assert all(p.poll() is None for p, _ in workers), output(workers[0])
      time.sleep(0.05)
    assert index and index["step"] >= 4, "no checkpoint in 300 s"
    workers[1][0].send_signal(signal.SIGKILL)
    killed = time.monotonic()
    try:
      code = workers[0][0].wait(timeout=BOUND_SECONDS)
    except subprocess.TimeoutExpired:
      pytest.fail(f"worker 0 still running {BOUND_SECONDS} s after its peer "
                  "died:\n" + output(workers[0])[-3000:])
    waited = time.monotonic() - killed
    text = output(workers[0])
    assert code == 1, text[-3000:]
    errors = [l for l in text.splitlines() if l.startswith("error:")]
    assert len(errors) == 1 and "Traceback" not in text, text[-3000:]
    assert "a worker of the cluster failed or cannot be reached" in errors[0]
    print(f"worker 0 stopped {waited:.1f} s after worker 1 was killed: "
          f"{errors[0]}")
  finally:
    stop(workers)

  committed = callbacks.read_index(str(workdir / "checkpoints"))
  assert committed["step"] < TOTAL_STEPS
  workers = start_workers(workdir, ports, child_env, logs)
  try:
    for proc, _ in workers:
      proc.wait(timeout=300)
    for worker in workers:
      text = output(worker)
      assert worker[0].returncode == 0, text[-3000:]
      assert (f"resumed from {committed['weights']} (epoch "
              f"{committed['epoch']}, step {committed['step']})") in text
  except subprocess.TimeoutExpired:
    pytest.fail("the restarted workers did not finish:\n" +
                output(workers[0])[-3000:])
  finally:
    stop(workers)
  with open(workdir / "train_summary.json") as f:
    summary = json.load(f)
  assert summary["steps"] == TOTAL_STEPS and summary["replicas"] == 2
  assert summary["steps_this_run"] == TOTAL_STEPS - committed["step"]
  assert not [p for p in os.listdir(workdir / "checkpoints")
              if p.startswith(".")]


@pytest.mark.parametrize("message,cause", [
    ("Graph execution error:\n\nDetected at node allgather defined at (most "
     "recent call last):\n  File \"x.py\", line 1, in f\n\n{{function_node "
     "__wrapped__CollectiveReduceV2}} Collective ops is aborted by: "
     "recvmsg:Connection reset by peer\n\t [[{{node allgather}}]]",
     "Collective ops is aborted by: recvmsg:Connection reset by peer"),
    ("Graph execution error:\n\nThe following tasks are unhealthy (stopped "
     "sending heartbeats):\n/job:worker/replica:0/task:1\nThe tasks have "
     "crashed.", "The following tasks are unhealthy (stopped sending "
     "heartbeats): /job:worker/replica:0/task:1"),
])
def test_the_error_line_names_the_cause(message, cause):
  assert cli._cause(tf.errors.UnavailableError(None, None, message)) == cause
