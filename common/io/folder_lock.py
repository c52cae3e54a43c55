"""One process at a time in a workdir or a prepared folder.

Two trainings in one `--workdir` would delete each other's checkpoints;
two preparations of one `--output` would write the same shards. The tool
takes `FOLDER/.lock` with `flock` before it writes anything: a second
process finds it held and stops with one line naming the holder (its pid,
host, command and start time, which the holder writes into the file).
The kernel releases a flock when its process ends, however it ends, so a
killed holder never leaves a stale lock behind; the file stays (removing
it would let two processes lock two different files of the same name).

Local folders only: object stores (gs://, s3://) have no locks, which
docs/reliability.md says. flock works on local disks and on NFSv4.
"""

import datetime
import fcntl
import json
import os
import socket
import sys

from common.io import paths

LOCK_FILE = ".lock"


class FolderBusy(RuntimeError):
  """Another process holds the folder."""


class FolderLock:
  """`with FolderLock(folder, "training"):` holds `folder` for the block.

  Raises:
    FolderBusy: another process (or another lock in this one) holds it.
  """

  def __init__(self, folder, purpose):
    self.folder = os.fspath(folder)
    self.purpose = purpose
    self.path = os.path.join(self.folder, LOCK_FILE)
    self._fd = None

  def __enter__(self):
    if paths.is_remote(self.folder):
      return self  # No locks on object stores (see the docstring).
    try:
      # O_NOFOLLOW: a .lock that is a link (to a user's file elsewhere) is
      # never opened, so never truncated.
      fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW, 0o644)
    except OSError as e:
      if os.path.islink(self.path):
        raise paths.UnsafePath(
            f"{self.path} is a symbolic link: refusing to lock through it "
            "(remove the link; the lock file is the tool's own)") from None
      raise
    try:
      fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
      holder = _describe(_read(fd))
      os.close(fd)
      raise FolderBusy(
          f"{self.folder} is in use by {holder}; wait for it to finish or "
          "stop it, or use another folder") from None
    os.ftruncate(fd, 0)
    os.write(fd, json.dumps({
        "pid": os.getpid(), "host": socket.gethostname(),
        "purpose": self.purpose, "command": " ".join(sys.argv),
        "since": datetime.datetime.now().isoformat(timespec="seconds"),
    }).encode())
    os.fsync(fd)
    self._fd = fd
    return self

  def __exit__(self, *exc):
    if self._fd is not None:
      os.ftruncate(self._fd, 0)
      fcntl.flock(self._fd, fcntl.LOCK_UN)
      os.close(self._fd)
      self._fd = None


def _read(fd):
  try:
    os.lseek(fd, 0, os.SEEK_SET)
    return json.loads(os.read(fd, 1 << 16).decode() or "{}")
  except (OSError, ValueError):
    return {}


def _describe(holder):
  if not holder.get("pid"):
    return "another process (it is still starting)"
  return (f"{holder.get('purpose', 'a process')} pid {holder['pid']} on "
          f"{holder.get('host', '?')} since {holder.get('since', '?')} "
          f"({holder.get('command', '')})")
