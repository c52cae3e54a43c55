"""The JSON files the tools keep their state in, and writes that fail.

Every tool reads and writes its state (a run's config.json and
checkpoint index, a prepared folder's manifests and summary) through
these functions, so that:
  - a file that cannot be parsed stops the tool with one line naming it
    (`DamagedFile`), never a JSON parser's message without the file;
  - a write replaces the file atomically (temporary name, flushed, then
    renamed), so a kill leaves the old file or the new one;
  - a write that fails (a full disk, a quota, a file size limit) raises
    `WriteFailed` naming what could not be written, after removing its
    temporary, so the last committed state stays what the next run reads.
Paths local or remote go through common/io/filesystem.py.
"""

import contextlib
import json
import os

import tensorflow as tf

from common.io import filesystem


class DamagedFile(ValueError):
  """A state file exists but cannot be read back."""


class WriteFailed(RuntimeError):
  """A file could not be written (the disk is full, a quota, a limit)."""


def reason(error):
  """Why a write failed, in one line: the system's words for its errno
  (h5py and TensorFlow wrap them in pages of detail)."""
  number = getattr(error, "errno", None)
  if isinstance(number, int) and number > 0:
    return os.strerror(number)
  text = (getattr(error, "message", None) or str(error)).strip()
  if not text:
    return type(error).__name__
  # TensorFlow's file errors read "<path>; <reason>".
  return text.splitlines()[0].rsplit("; ", 1)[-1]


def _write_errors():
  return (OSError, tf.errors.OpError)


@contextlib.contextmanager
def writing(what, cleanup=()):
  """Turns a failed write inside the block into WriteFailed(`what`),
  after removing the `cleanup` paths (the block's temporaries)."""
  try:
    yield
  except _write_errors() as e:
    for path in cleanup:
      remove_quietly(path)
    raise WriteFailed(f"could not write {what}: {reason(e)}") from e


def remove_quietly(path):
  """Removes a file or folder if it is there (a failed write's leftover)."""
  filesystem.remove_quietly(path)


def read_json(path, default=None):
  """The JSON value in `path`; `default` when the file does not exist.

  Raises:
    DamagedFile: the file is there but is not whole JSON (cut, garbage).
  """
  if not filesystem.exists(path):
    return default
  try:
    with filesystem.open(path) as f:
      text = f.read()
    return json.loads(text)
  except (ValueError, UnicodeDecodeError) as e:  # JSONDecodeError is one.
    raise DamagedFile(f"{path} is damaged and cannot be read ({e})") from e


def write_json_atomic(path, value, indent=2):
  """Writes `value` as JSON under a temporary name and commits it over
  `path` (filesystem.commit_file). Raises WriteFailed (leaving `path` as
  it was) if it cannot."""
  path = os.fspath(path)
  text = json.dumps(value, indent=indent)
  with writing(path):
    filesystem.write_text(path, text)
  # A process killed inside this function leaves its temporary: the next
  # write of the same file removes it.
  for stale in filesystem.matching(os.path.dirname(path) or ".",
                                   os.path.basename(path) + ".tmp-*"):
    remove_quietly(stale)
