"""TensorFlow's start-up noise off for the project's commands.

A command (`python -m cola.train`, `common.export`, `common.embed`...)
prints what its user needs: progress, the result, warnings that concern
them, its own log lines. TensorFlow prints much more: C++ lines while it
loads (oneDNN, CUDA probing, CPU features; written before its logging is
set up, so TF_CPP_MIN_LOG_LEVEL does not reach them) and Python INFO lines
on every export (SavedModel input renaming, sharding callbacks, assets,
fingerprints). Both are left out unless the command line asks for logs
with absl's `--verbosity` (`-v`), or TF_CPP_MIN_LOG_LEVEL is set already:
  - TensorFlow is loaded, and its devices listed, with the process's
    stderr going to a file; the known start-up lines are dropped and any
    other line is written out again, so nothing else is lost;
  - absl INFO records that TensorFlow's or Keras's own files log are
    dropped (the project's own INFO lines stay), and TensorFlow's Python
    logger is set to WARNING.

`apply()` runs when the `common` package is first imported, and acts only
when the program is one of the project's modules run with `-m`, which
imports `common` before TensorFlow.
A program that imports the library keeps TensorFlow's own settings.
"""

import contextlib
import importlib.util
import logging
import os
import re
import sys
import tempfile

from common.io import plugins

# The project's own packages besides the methods (found: common/io/plugins.py).
PACKAGES = ("common", "benchmarks")
VERBOSE_FLAGS = ("--verbosity", "-v", "--v")
# C++ errors and fatal errors stay; INFO and WARNING lines go.
CPP_LEVEL = "2"
# What TensorFlow writes while it loads on a machine without a GPU.
START_UP_NOISE = re.compile(
    r"All log messages before absl::InitializeLog|port\.cc:\d+\] oneDNN|"
    r"cudart_stub\.cc|cpu_feature_guard\.cc|^To enable the following "
    r"instructions|failed call to cuInit|cuda_(platform|executor|diagnostics)"
    r"\.cc|computation placer already registered|Unable to register cu(DNN|"
    r"FFT|BLAS) factory|Created TensorFlow Lite XNNPACK delegate")


def asked_for_logs(argv):
  return any(a == f or a.startswith(f + "=") for a in argv[1:]
             for f in VERBOSE_FLAGS)


def running_a_command():
  """Whether the program is `python -m PACKAGE.MODULE` of this project
  (sys.orig_argv holds the module's name before runpy sets __main__)."""
  argv = getattr(sys, "orig_argv", [])
  if "-m" not in argv[:-1]:
    return False
  top = argv[argv.index("-m") + 1].split(".")[0]
  return top in PACKAGES or plugins.is_method_package(top)


@contextlib.contextmanager
def _stderr_filtered():
  """Runs the block with file descriptor 2 going to a temporary file, then
  writes back every line of it that is not start-up noise."""
  sys.stderr.flush()
  saved = os.dup(2)
  with tempfile.TemporaryFile() as capture:
    os.dup2(capture.fileno(), 2)
    try:
      yield
    finally:
      sys.stderr.flush()
      os.dup2(saved, 2)
      os.close(saved)
      capture.seek(0)
      kept = [line for line in capture.read().decode(
          "utf-8", "replace").splitlines() if not START_UP_NOISE.search(line)]
      if kept:
        sys.stderr.write("\n".join(kept) + "\n")


def _package_dirs(*names):
  dirs = []
  for name in names:
    spec = importlib.util.find_spec(name)
    dirs.extend(spec.submodule_search_locations or [] if spec else [])
  return tuple(os.path.join(d, "") for d in dirs)


class _LibraryInfoFilter(logging.Filter):
  """Drops INFO (and DEBUG) records logged from inside the given dirs."""

  def __init__(self, dirs):
    super().__init__()
    self.dirs = dirs

  def filter(self, record):
    return record.levelno >= logging.WARNING or not (
        record.pathname.startswith(self.dirs))


_active = False


@contextlib.contextmanager
def library_output():
  """In a quiet command, what a library writes to stderr in the block is
  filtered as at start-up (LiteRT's "Created ... XNNPACK delegate")."""
  if not _active:
    yield
    return
  with _stderr_filtered():
    yield


def apply(argv=None):
  """Quiets TensorFlow for a command of the project (`python -m ...`)."""
  argv = sys.argv if argv is None else argv
  if (not running_a_command() or asked_for_logs(argv) or
      "TF_CPP_MIN_LOG_LEVEL" in os.environ or "tensorflow" in sys.modules):
    return
  global _active
  _active = True
  os.environ["TF_CPP_MIN_LOG_LEVEL"] = CPP_LEVEL
  logging.getLogger("tensorflow").setLevel(logging.WARNING)
  # (Records from TensorFlow can carry absl's own file as their origin.)
  library = _LibraryInfoFilter(
      _package_dirs("tensorflow", "keras", "tf_keras", "absl"))
  logging.getLogger("absl").addFilter(library)
  with _stderr_filtered():
    import tensorflow as tf  # pylint: disable=import-outside-toplevel
    tf.config.list_physical_devices()  # The CUDA probe, here.
