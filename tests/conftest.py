"""Test set-up: two logical CPU devices (for MirroredStrategy tests) and
quiet TensorFlow logs. Must run before anything starts the TF runtime."""

import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if ROOT not in sys.path:
  sys.path.insert(0, ROOT)

import pytest  # noqa: E402
import tensorflow as tf  # noqa: E402

from common.train import distribute  # noqa: E402

distribute.split_cpu(2)


def subprocess_env():
  """Environment for child processes: the repo importable, quiet TF."""
  env = dict(os.environ)
  env["PYTHONPATH"] = ROOT + os.pathsep + env.get("PYTHONPATH", "")
  env["TF_CPP_MIN_LOG_LEVEL"] = "2"
  return env


@pytest.fixture
def child_env():
  return subprocess_env()
