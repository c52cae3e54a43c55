"""The Colab notebooks run top to bottom (nbclient, a real Jupyter kernel)
on small settings, injected after each notebook's `parameters` cell as
papermill does."""

import os

import nbclient
import nbformat
import pytest

from tests import processes

ROOT = processes.ROOT

SMALL = {
    "finetune_saved_model.ipynb": (
        'TASK = "synthetic:48"\nPRETRAIN_STEPS = 4\nSTEPS = 8\n'
        'BATCH_SIZE = 8\n'),
    "pretrain_and_probe.ipynb": (
        'TASK = "synthetic:24"\nPRETRAIN_STEPS = 6\nBATCH_SIZE = 8\n'
        'PROBE_STEPS = 4\n'),
}


def with_small_settings(notebook, source):
  index = next(i for i, cell in enumerate(notebook.cells)
               if "parameters" in cell.metadata.get("tags", []))
  notebook.cells.insert(index + 1, nbformat.v4.new_code_cell(source))
  return notebook


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(SMALL))
def test_notebook_runs_top_to_bottom(name, tmp_path, monkeypatch):
  monkeypatch.setenv("PYTHONPATH", ROOT + os.pathsep +
                     os.environ.get("PYTHONPATH", ""))
  monkeypatch.setenv("TF_CPP_MIN_LOG_LEVEL", "2")
  notebook = with_small_settings(
      nbformat.read(os.path.join(ROOT, "colab", name), as_version=4),
      SMALL[name])
  nbclient.NotebookClient(
      notebook, timeout=600, kernel_name="python3",
      resources={"metadata": {"path": str(tmp_path)}}).execute()
  outputs = [o for cell in notebook.cells if cell.cell_type == "code"
             for o in cell.get("outputs", [])]
  assert not [o for o in outputs if o.output_type == "error"]
  images = [o for o in outputs if "image/png" in o.get("data", {})]
  assert len(images) >= 2 if name.startswith("finetune") else len(images) >= 1
