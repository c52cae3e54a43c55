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
Local paths go through `os` (fsync before the rename); other TensorFlow
filesystems (gs://, ...) through `tf.io.gfile`.
"""

import contextlib
import glob
import json
import os
import uuid

from common.paths import is_remote


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
  import tensorflow as tf  # Only gfile writes raise its errors.
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
  import shutil
  try:
    if is_remote(path):
      import tensorflow as tf
      if tf.io.gfile.isdir(path):
        tf.io.gfile.rmtree(path)
      elif tf.io.gfile.exists(path):
        tf.io.gfile.remove(path)
    elif os.path.isdir(path) and not os.path.islink(path):
      shutil.rmtree(path, ignore_errors=True)
    elif os.path.lexists(path):
      os.remove(path)
  except OSError:
    pass


def read_json(path, default=None):
  """The JSON value in `path`; `default` when the file does not exist.

  Raises:
    DamagedFile: the file is there but is not whole JSON (cut, garbage).
  """
  try:
    if is_remote(path):
      import tensorflow as tf
      if not tf.io.gfile.exists(path):
        return default
      with tf.io.gfile.GFile(path) as f:
        text = f.read()
    else:
      if not os.path.exists(path):
        return default
      with open(path, encoding="utf-8") as f:
        text = f.read()
    return json.loads(text)
  except (ValueError, UnicodeDecodeError) as e:  # JSONDecodeError is one.
    raise DamagedFile(f"{path} is damaged and cannot be read ({e})") from e


def write_json_atomic(path, value, indent=2):
  """Writes `value` as JSON under a temporary name and renames it over
  `path`. Raises WriteFailed (leaving `path` as it was) if it cannot."""
  path = os.fspath(path)
  text = json.dumps(value, indent=indent)
  if is_remote(path):
    import tensorflow as tf
    tmp = f"{path}.tmp-{uuid.uuid4().hex}"
    with writing(path, cleanup=[tmp]):
      with tf.io.gfile.GFile(tmp, "w") as f:
        f.write(text)
      tf.io.gfile.rename(tmp, path, overwrite=True)
    return
  tmp = f"{path}.tmp-{os.getpid()}"
  with writing(path, cleanup=[tmp]):
    with open(tmp, "w", encoding="utf-8") as f:
      f.write(text)
      f.flush()
      os.fsync(f.fileno())
    os.replace(tmp, path)
  # A process killed inside this function leaves its temporary: the next
  # write of the same file removes it.
  for stale in glob.glob(glob.escape(path) + ".tmp-*"):
    remove_quietly(stale)
