"""Which packages are training methods: found, never listed.

A method package is a top-level package holding the plug-in's modules:

  NAME/method.py           build_model and build_dataset (common/train/method.py)
  NAME/train.py            its command, `python -m NAME.train`
  NAME/configs/default.py  its default config (`get_config()`)

(cola/, multimodal/ and byol/ are three). Everything that needs "every
method" (the packaging, the quiet-command filter, the layer test, the tests
that run each method) asks `method_packages()`; whether a workdir's
config may name a package is `is_method_package(name)`, answered from the
files alone: nothing is imported, so a name read from a file cannot run
code by being looked up.
"""

import importlib.util
import os
from typing import List, Optional

PLUG_IN_FILES = ("method.py", "train.py", os.path.join("configs",
                                                       "default.py"))
# The folder holding common/: where the project's own methods live.
PROJECT_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__))))


def _holds_plug_in(folder: str) -> bool:
  return all(os.path.isfile(os.path.join(folder, f)) for f in
             PLUG_IN_FILES + ("__init__.py",))


def is_method_package(name: str) -> bool:
  """Whether `name` is a top-level package on the path that holds the
  plug-in's modules. Imports nothing (a top-level find_spec only looks)."""
  if not isinstance(name, str) or not name.isidentifier():
    return False
  try:
    spec = importlib.util.find_spec(name)
  except (ImportError, ValueError):
    return False
  locations = getattr(spec, "submodule_search_locations", None) if spec else (
      None)
  return bool(locations) and any(_holds_plug_in(f) for f in locations)


def method_packages(root: Optional[str] = None) -> List[str]:
  """The method packages in `root` (default: the project's folder), sorted."""
  root = root or PROJECT_ROOT
  return sorted(
      entry for entry in os.listdir(root)
      if entry.isidentifier() and _holds_plug_in(os.path.join(root, entry)))
