"""common/ is in layers, each importing only the ones below it.

  io -> data -> models -> serve -> train -> eval -> the commands

(`common/*.py`, which only `python -m` runs), with the methods (cola/,
multimodal/) on top: they plug into common/ and common/ finds them by the
module path in a run's config, never by an import. The test reads every
module's imports with `ast` and fails on an upward import, a cycle, an
import of the methods, benchmarks or tests from the library, or a project
import hidden inside a function (those are reserved for optional
dependencies).
"""

import ast
import pathlib
import shutil
import subprocess

import pytest

from common.io import plugins

ROOT = pathlib.Path(__file__).resolve().parents[2]
LAYERS = ("common.io", "common.data", "common.models", "common.serve",
          "common.train", "common.eval")
COMMANDS = len(LAYERS)  # common/*.py: export, evaluate, embed, hear.
METHODS = COMMANDS + 1  # The method packages (common/io/plugins.py).
METHOD_PACKAGES = tuple(plugins.method_packages(str(ROOT)))
LIBRARY = ("common",) + METHOD_PACKAGES
OUTSIDE = ("benchmarks", "tests")
# Imported inside the function that needs them: not every install or every
# command has them (extras), or they cost seconds to import for one option.
OPTIONAL = {"apache_beam", "sklearn", "matplotlib", "ai_edge_litert",
            "tensorflow_datasets", "IPython", "librosa", "hearvalidator",
            "torch", "resource"}
# The one exception: quiet.py imports TensorFlow itself, once its stderr is
# captured, so that TensorFlow's start-up lines can be filtered.
IMPORTS_TENSORFLOW_ITSELF = {"common.io.quiet"}


def layer(module):
  """The layer of a module of the library (None outside it)."""
  for i, name in enumerate(LAYERS):
    if module == name or module.startswith(name + "."):
      return i
  if module.startswith("common"):
    return COMMANDS
  if module.split(".")[0] in METHOD_PACKAGES:
    return METHODS
  return None


def module_name(path, root):
  parts = list(path.relative_to(root).with_suffix("").parts)
  if parts[-1] == "__init__":
    parts.pop()
  return ".".join(parts)


def project_imports(tree, modules):
  """(imported project module, line, inside a function?) of a module."""
  found = []

  def visit(node, in_function):
    for child in ast.iter_child_nodes(node):
      inner = in_function or isinstance(
          child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda))
      if isinstance(child, ast.Import):
        for alias in child.names:
          found.append((alias.name, child.lineno, inner))
      elif isinstance(child, ast.ImportFrom) and child.level == 0:
        for alias in child.names:
          full = f"{child.module}.{alias.name}"
          found.append((full if full in modules else child.module,
                        child.lineno, inner))
      visit(child, inner)

  visit(tree, False)
  return found


def check(root):
  """Every violation of the rules in the library under `root`."""
  files = {}
  for package in LIBRARY:
    for path in sorted((root / package).rglob("*.py")):
      files[module_name(path, root)] = path
  problems, graph = [], {m: set() for m in files}
  for module, path in files.items():
    tree = ast.parse(path.read_text(), str(path))
    for target, line, in_function in project_imports(tree, set(files)):
      top = target.split(".")[0]
      where = f"{path.relative_to(root)}:{line}"
      if top in OUTSIDE:
        problems.append(f"{where}: the library imports {target}")
        continue
      if top not in LIBRARY:
        if in_function and top not in OPTIONAL and not (
            top == "tensorflow" and module in IMPORTS_TENSORFLOW_ITSELF):
          problems.append(f"{where}: {target} imported inside a function "
                          "but it is no optional dependency")
        continue
      if in_function:
        problems.append(f"{where}: {target} imported inside a function")
      if target not in files:
        continue  # A package's own __init__ (common, common.io, ...).
      graph[module].add(target)
      source, dest = layer(module), layer(target)
      if dest > source:
        problems.append(f"{where}: upward import of {target} "
                        f"(layer {dest} from layer {source})")
      if (source == dest == METHODS and
          top != module.split(".")[0]):
        problems.append(f"{where}: one method imports another ({target})")
  problems += [f"import cycle: {' -> '.join(c)}" for c in cycles(graph)]
  return problems


def cycles(graph):
  """The strongly connected components of more than one module (Tarjan),
  and modules importing themselves."""
  index, low, stack, on_stack, found = {}, {}, [], set(), []

  def connect(v):
    index[v] = low[v] = len(index)
    stack.append(v)
    on_stack.add(v)
    for w in sorted(graph[v]):
      if w not in index:
        connect(w)
        low[v] = min(low[v], low[w])
      elif w in on_stack:
        low[v] = min(low[v], index[w])
    if low[v] == index[v]:
      component = []
      while True:
        w = stack.pop()
        on_stack.discard(w)
        component.append(w)
        if w == v:
          break
      if len(component) > 1 or v in graph[v]:
        found.append(sorted(component))

  for v in sorted(graph):
    if v not in index:
      connect(v)
  return found


def test_the_library_imports_only_downwards_without_cycles():
  problems = check(ROOT)
  assert not problems, "\n".join(problems)


def test_every_library_module_has_a_layer():
  for package in ("io", "data", "models", "serve", "train", "eval"):
    assert (ROOT / "common" / package / "__init__.py").exists()
  loose = sorted(p.name for p in (ROOT / "common").glob("*.py"))
  # Only the commands (and HEAR's module name) sit above the layers.
  assert loose == ["__init__.py", "embed.py", "evaluate.py", "export.py",
                   "hear.py"]


def test_no_source_file_is_ignored_by_git():
  """An ignored module works here but is missing from every clean clone.

  `.gitignore` once held `eval/`, which silently kept
  common/eval/__init__.py out of the repository: the tree worked on the
  machine that wrote it and CI's clean clone failed.
  """
  if shutil.which("git") is None or not (ROOT / ".git").exists():
    pytest.skip("not a git checkout")
  sources = [str(p.relative_to(ROOT))
             for package in LIBRARY + OUTSIDE
             for p in (ROOT / package).rglob("*.py")
             if "__pycache__" not in p.parts]
  result = subprocess.run(
      ["git", "check-ignore", "--no-index", "--stdin"], cwd=ROOT,
      input="\n".join(sources), capture_output=True, text=True)
  # 0: some are ignored, 1: none is; anything else is git failing, which
  # must not pass as "none ignored".
  assert result.returncode in (0, 1), result.stderr
  assert not result.stdout.split(), (
      f"git ignores these sources: {result.stdout}")


def _write(root, name, text):
  path = root / name
  path.parent.mkdir(parents=True, exist_ok=True)
  path.write_text(text)


@pytest.mark.parametrize("case,expected", [
    ({"common/io/a.py": "from common.train import b\n",
      "common/train/b.py": ""}, "upward import of common.train.b"),
    ({"common/data/a.py": "from common.data import b\n",
      "common/data/b.py": "from common.data import a\n"}, "import cycle"),
    ({"common/data/a.py": "def f():\n  from common.io import b\n",
      "common/io/b.py": ""}, "imported inside a function"),
    ({"common/data/a.py": "def f():\n  import ml_collections\n"},
     "no optional dependency"),
    ({"common/train/a.py": "import cola.method\n",
      "cola/method.py": ""}, "upward import of cola.method"),
    ({"common/io/a.py": "from tests import media_files\n"},
     "the library imports tests"),
    ({"cola/a.py": "from multimodal import b\n", "multimodal/b.py": ""},
     "one method imports another"),
])
def test_the_check_finds_each_kind_of_violation(tmp_path, case, expected):
  for package in LIBRARY:
    (tmp_path / package).mkdir()
  for name, text in case.items():
    _write(tmp_path, name, text)
  problems = check(tmp_path)
  assert any(expected in p for p in problems), problems


def test_a_clean_tree_passes_the_check(tmp_path):
  for package in LIBRARY:
    (tmp_path / package).mkdir()
  _write(tmp_path, "common/io/a.py", "import os\n")
  _write(tmp_path, "common/data/b.py", "from common.io import a\n")
  _write(tmp_path, "cola/c.py", "from common.data import b\n"
         "def f():\n  import sklearn\n")
  assert check(tmp_path) == []
