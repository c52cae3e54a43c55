"""The one filesystem layer: every path a tool reads or writes.

A path is local (`runs/cola`, `/data/clips`) or on any TensorFlow
filesystem (`gs://bucket/runs/cola`, `s3://...` with tensorflow-io's
plugins, `hdfs://...`, the in-memory `ram://` the tests use). Local paths
go through `os` and keep what the local disk gives: fsync before a rename,
an atomic rename(2), symbolic links (paths.py checks them). Every other
path goes through `tf.io.gfile`, so `--workdir=gs://...` never creates a
local folder named `gs:`.

Commits. A file is written under a temporary name and then committed:
  - `commit_file(tmp, path)`: local: fsync, then rename over `path`
    (atomic). Object stores: `tf.io.gfile.rename`, a server-side copy of
    the whole, closed object (an upload becomes visible only once
    complete, so no reader sees part of it), then a delete of `tmp`.
  - `commit_folder(tmp, path, marker)`: local: rename `path` aside,
    rename `tmp` into place, remove the old one (either the old folder or
    the new one is at `path`). Object stores have no folder rename (a
    "folder" is a name prefix): the old `marker` file (a SavedModel's
    saved_model.pb) is deleted first, then every other file is copied,
    and `marker` is copied last. A reader that finds `marker` finds the
    complete new folder; in between, `path` holds no marker and reads as
    absent, never as a mix of two exports.
The tools that keep several files consistent (checkpoints and their
index) commit the file that names the others last: see callbacks.py.
"""

import builtins
import contextlib
import fnmatch
import glob as glob_lib
import io
import os
import shutil
import uuid

import tensorflow as tf

from common.io.paths import is_remote


def _gfile():
  return tf.io.gfile


def absolute(path):
  """`path` made absolute (local) or as given (remote: already absolute)."""
  path = os.fspath(path)
  return path if is_remote(path) else os.path.abspath(path)


def join(*parts):
  """Joins path parts with "/" (as gfile paths need, local ones too)."""
  return os.path.join(*[os.fspath(p) for p in parts])


def exists(path):
  return _gfile().exists(path) if is_remote(path) else os.path.exists(path)


def isdir(path):
  return _gfile().isdir(path) if is_remote(path) else os.path.isdir(path)


def makedirs(path):
  if is_remote(path):
    _gfile().makedirs(path)
  else:
    os.makedirs(path, exist_ok=True)


def listdir(path):
  """Names in folder `path` ([] when it does not exist), sorted."""
  if not isdir(path):
    return []
  names = _gfile().listdir(path) if is_remote(path) else os.listdir(path)
  return sorted(n.rstrip("/") for n in names)


def matching(folder, pattern):
  """Paths of the entries of `folder` whose name matches `pattern` (an
  fnmatch pattern on the name only: the folder's own name may hold glob
  characters)."""
  return [join(folder, n) for n in listdir(folder)
          if fnmatch.fnmatchcase(n, pattern)]


def glob(pattern):
  """Sorted paths matching `pattern` (`**` recursive for local paths)."""
  if is_remote(pattern):
    return sorted(_gfile().glob(pattern))
  return sorted(glob_lib.glob(pattern, recursive=True))


def walk(top, errors=None):
  """(folder, subfolders, files) under a remote `top`, as os.walk gives
  (local folders: data_sources.walk_files, which follows links once).
  Folders that cannot be listed go to `errors`."""
  for root, dirs, files in _gfile().walk(
      top, onerror=errors.append if errors is not None else None):
    yield root.rstrip("/"), [d.rstrip("/") for d in dirs], files


def mtime(path):
  """Last modification time of `path` in seconds."""
  if is_remote(path):
    return _gfile().stat(path).mtime_nsec / 1e9
  return os.path.getmtime(path)


def size(path):
  return _gfile().stat(path).length if is_remote(path) else (
      os.path.getsize(path))


def open(path, mode="r"):  # pylint: disable=redefined-builtin
  """A file object for `path` (text modes read and write UTF-8)."""
  if is_remote(path):
    return _gfile().GFile(path, mode)
  if "b" in mode:
    return builtins.open(path, mode)
  return builtins.open(path, mode, encoding="utf-8")


def remove(path):
  """Removes a file; a missing one is fine (another worker removed it)."""
  try:
    if is_remote(path):
      _gfile().remove(path)
    else:
      os.remove(path)
  except FileNotFoundError:
    pass
  except Exception as e:  # pylint: disable=broad-except
    if not _is_not_found(e):
      raise


def rmtree(path):
  """Removes a folder and everything in it, if it is there."""
  if is_remote(path):
    try:
      _gfile().rmtree(path)
    except Exception as e:  # pylint: disable=broad-except
      if not _is_not_found(e):
        raise
  elif os.path.isdir(path) and not os.path.islink(path):
    shutil.rmtree(path, ignore_errors=True)


def _is_not_found(error):
  return isinstance(error, tf.errors.NotFoundError)


def temporary_name(path):
  """A name beside `path` for writing it before the commit."""
  return f"{path}.tmp-{os.getpid()}-{uuid.uuid4().hex[:8]}"


def commit_file(tmp, path):
  """Puts the written file `tmp` in place of `path` (module docstring)."""
  if is_remote(path):
    _gfile().rename(tmp, path, overwrite=True)
    return
  with builtins.open(tmp, "rb") as f:
    os.fsync(f.fileno())
  os.replace(tmp, path)


def write_bytes(path, data):
  """Writes `data` to `path` atomically (temporary, then commit_file)."""
  tmp = temporary_name(path)
  try:
    with open(tmp, "wb") as f:
      f.write(data)
    commit_file(tmp, path)
  except BaseException:
    remove_quietly(tmp)
    raise


def write_text(path, text):
  write_bytes(path, text.encode("utf-8"))


@contextlib.contextmanager
def writing_bytes(path):
  """`with writing_bytes(path) as f:` collects what a library writes to a
  file object (np.savez, matplotlib's savefig) and commits it to `path`
  at the end of the block, on any filesystem."""
  buffer = io.BytesIO()
  yield buffer
  write_bytes(path, buffer.getvalue())


def remove_quietly(path):
  """Removes a file or folder if it is there (a failed write's leftover);
  never raises."""
  try:
    if isdir(path):
      rmtree(path)
    elif is_remote(path) or os.path.lexists(path):
      remove(path)
  except Exception:  # pylint: disable=broad-except
    pass


def commit_folder(tmp, path, marker):
  """Puts the written folder `tmp` in place of `path` (module docstring);
  `marker` is the file (relative to the folder) whose presence says the
  folder is complete."""
  if not is_remote(path):
    if os.path.exists(path):
      old = f"{path}.old-{os.getpid()}"
      os.replace(path, old)
      os.replace(tmp, path)
      shutil.rmtree(old)
    else:
      os.replace(tmp, path)
    return
  gfile = _gfile()
  remove(join(path, marker))  # From here on `path` reads as absent.
  rmtree(path)
  files = []
  for root, _, names in gfile.walk(tmp):
    files.extend(join(root, n) for n in names)
  prefix = tmp.rstrip("/") + "/"
  first = sorted(f for f in files if f[len(prefix):] != marker)
  for source in first + [join(tmp, marker)]:
    target = join(path, source[len(prefix):])
    gfile.makedirs(os.path.dirname(target))
    gfile.copy(source, target, overwrite=True)
  rmtree(tmp)
