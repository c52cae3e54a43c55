"""Writes stay inside the folder the command line names.

A tool writes into its folder (a training `--workdir`, a `prepare
--output`) by fixed names: checkpoints/, logs/, config.json... If one of
those names is a symbolic link leading out of the folder, writing through
it would put (or overwrite) files where nobody asked. Such links are
refused with a one-line error before anything is written. The folder
itself may be a link (the user named it), and links that stay inside it
are fine. Names are replaced by rename, which replaces a link rather than
following it, except folders, which is why those are checked.
"""

import os


class UnsafePath(ValueError):
  """A name the tool writes leads outside its folder."""


def is_remote(path):
  """A TensorFlow filesystem path (gs://, s3://, ram://...), not local."""
  return "://" in os.fspath(path)


def check_inside(folder, names):
  """Raises UnsafePath if `folder`/name resolves outside `folder` for any
  name (missing names are fine: the tool creates them inside)."""
  if is_remote(folder):
    return  # Object stores have no links.
  real_folder = os.path.realpath(folder)
  for name in names:
    path = os.path.join(folder, name)
    if not os.path.lexists(path):
      continue
    real = os.path.realpath(path)
    if os.path.commonpath([real, real_folder]) != real_folder:
      raise UnsafePath(
          f"{path} leads to {real}, outside {folder}: refusing to write "
          "through it (remove the link, or name the folder you want on "
          "the command line)")
