r"""Downstream evaluation: COLA's table for any encoder.

  # The four rows (Random / Supervised / Frozen / Fine-tuned) for a run:
  python -m common.evaluate --model=runs/cola --task=synthetic
  # One mode, a SavedModel, your labelled files:
  python -m common.evaluate --model=runs/cola/saved_model \
      --task=files:/data/clips --mode=linear
  # COLA's downstream data sets by their TFDS names (prepared beforehand):
  python -m common.evaluate --model=runs/cola-paper --suite=cola

`--model` is a training workdir (config.json names the method; the last
checkpoint is loaded) or a SavedModel following common/serve/export.py's
contract. Random and Supervised rows need the encoder's architecture: a
workdir's config, or `--config=FILE` beside a SavedModel. Modes and the
protocol are in common/eval/downstream.py, tasks in common/eval/tasks.py.

Each (task, mode) writes OUTPUT_DIR/TASK-MODE.json (metric, settings, loss
curve, confusion matrix) beside TASK-MODE-confusion.png; the table is
printed and written to OUTPUT_DIR/table.md (and table.json).
"""

import dataclasses
import re
import sys
from typing import Optional, Sequence

from absl import flags
from absl import logging
from ml_collections import config_flags
import tensorflow as tf
import numpy as np

from common.data import data_sources
from common.eval import downstream
from common.eval import tasks as tasks_lib
from common.io import filesystem
from common.io import paths
from common.io import state_files
from common.serve import loader
from common.train import runs

ROWS = (("random", "Random"), ("supervised", "Supervised"),
        ("linear", "Frozen"), ("finetune", "Fine-tuned"))
SUITES = {"cola": tasks_lib.COLA_SUITE}


class EncoderFactory:
  """Builds the encoder each mode starts from, for one --model."""

  def __init__(self, model_path=None, config=None, seed=0):
    self.model_path = model_path
    self.config = config
    self.seed = seed
    self.is_workdir = bool(model_path) and runs.is_workdir(
        model_path) and not loader.is_saved_model(model_path)
    if self.is_workdir and config is None:
      self.config = runs.read_config(model_path)

  def __call__(self, mode):
    if downstream.PRETRAINED[mode]:
      if not self.model_path:
        raise ValueError(f"--mode={mode} needs --model")
      if self.is_workdir:
        return downstream.load_workdir_model(self.model_path, seed=self.seed)
      # A fresh load: fine-tuning changes it.
      return downstream.SavedModelEncoder(tf.saved_model.load(
          runs.saved_model_of(self.model_path)))
    if self.config is None:
      raise ValueError(
          f"--mode={mode} trains the encoder's architecture from scratch: "
          "give --config=TRAINING_CONFIG beside a SavedModel --model")
    return downstream.keras_model_from_config(self.config, seed=self.seed,
                                              name=self.model_path or "config")

  def window_seconds(self):
    if self.config is not None:
      return float(self.config.get("export_window_seconds", 1.0))
    model = loader.EmbeddingModel(self.model_path)
    return model.window_samples / model.sample_rate


def slug(text):
  return re.sub(r"[^A-Za-z0-9._-]+", "_", text).strip("_") or "task"


def plot_confusion(matrix, label_names, title, path):
  """Writes a confusion-matrix PNG (rows: true, columns: predicted)."""
  import matplotlib  # Plotting only here; Agg needs no display.
  matplotlib.use("Agg")
  from matplotlib import pyplot as plt
  n = len(label_names)
  size = min(4 + 0.35 * n, 20)
  fig, ax = plt.subplots(figsize=(size, size))
  ax.imshow(matrix, cmap="Blues")
  if n <= 40:
    ax.set_xticks(range(n), label_names, rotation=90, fontsize=8)
    ax.set_yticks(range(n), label_names, fontsize=8)
    if n <= 15:
      for (i, j), count in np.ndenumerate(np.asarray(matrix)):
        ax.text(j, i, str(count), ha="center", va="center", fontsize=8)
  ax.set_xlabel("predicted")
  ax.set_ylabel("true")
  ax.set_title(title)
  fig.tight_layout()
  with filesystem.writing_bytes(path) as f:  # Local or remote.
    fig.savefig(f, format="png", dpi=100)
  plt.close(fig)


def evaluate_task(task: tasks_lib.Task, factory: "EncoderFactory",
                  modes: Sequence[str], settings: downstream.Settings,
                  output_dir: str, label: str):
  """Runs `modes` on one task, writing JSON + a confusion PNG per mode.

  Returns:
    {mode: downstream.Result}.
  """
  results = {}
  for mode in modes:
    logging.info("%s: mode %s", task.name, mode)
    result = downstream.run(task, factory(mode), mode, settings)
    results[mode] = result
    name = f"{slug(label)}-{mode}"
    # Names inside the results folder must not lead out of it (paths.py).
    paths.check_inside(output_dir, [name + ".json", name + "-confusion.png"])
    base = filesystem.join(output_dir, name)
    state_files.write_json_atomic(base + ".json", {
        "model": factory.model_path, "task": task.name, "label": label,
        "label_names": task.label_names, "multi_label": task.multi_label,
        "settings": dataclasses.asdict(settings),
        **dataclasses.asdict(result)})
    plot_confusion(result.confusion, task.label_names,
                   f"{label}: {dict(ROWS)[mode]} ({result.metric} "
                   f"{100 * result.value:.1f})", base + "-confusion.png")
    print(f"{label} {dict(ROWS)[mode]}: {result.metric} "
          f"{100 * result.value:.1f} ({result.test_clips} test clips, "
          f"{result.seconds:.0f} s)", flush=True)
  return results


def markdown_table(columns, modes):
  """Rows Random / Supervised / Frozen / Fine-tuned, one column per task
  (values in %), and their average when there are several."""
  names = list(columns)
  header = ["", *names] + (["Average"] if len(names) > 1 else [])
  lines = ["| " + " | ".join(header) + " |",
           "|" + "---|" * len(header)]
  for mode, row in ROWS:
    if mode not in modes:
      continue
    values = [100 * columns[n][mode].value for n in names]
    cells = [f"{v:.1f}" for v in values]
    if len(names) > 1:
      cells.append(f"{sum(values) / len(values):.1f}")
    lines.append("| " + " | ".join([row, *cells]) + " |")
  return "\n".join(lines)


def write_table(columns, modes, output_dir):
  table = markdown_table(columns, modes)
  paths.check_inside(output_dir, ["table.md", "table.json"])
  with state_files.writing(filesystem.join(output_dir, "table.md")):
    filesystem.write_text(filesystem.join(output_dir, "table.md"),
                          table + "\n")
  state_files.write_json_atomic(filesystem.join(output_dir, "table.json"), {
      name: {mode: {"metric": r.metric, "value": r.value}
             for mode, r in results.items()}
      for name, results in columns.items()})
  return table


def run_suite(suite: str, factory: "EncoderFactory", modes: Sequence[str],
              settings: downstream.Settings, output_dir: str,
              only: Optional[Sequence[str]] = None, train_split: str = "train",
              test_split: str = "test"):
  """Evaluates every task of a suite.

  Args:
    suite: a name in SUITES ("cola": the paper's TFDS tasks).
    factory: builds each mode's encoder (EncoderFactory).
    modes: among downstream.MODES.
    settings: the classifier's training and testing settings.
    output_dir: where the table, JSON and confusion plots go.
    only: only these suite columns or TFDS names.
    train_split, test_split: the TFDS splits.

  Returns:
    (the markdown table, {column: {mode: downstream.Result}}).

  Raises:
    ValueError: `only` selects no task.
  """
  columns = {}
  for column, (name, label_key) in SUITES[suite].items():
    if only and column not in only and name not in only:
      continue
    task = tasks_lib.load_task(f"tfds:{name}", label_key=label_key,
                               train_split=train_split, test_split=test_split)
    columns[column] = evaluate_task(task, factory, modes, settings,
                                    output_dir, column)
  if not columns:
    raise ValueError(f"--suite_tasks={only}: none of "
                     f"{list(SUITES[suite])} selected")
  return write_table(columns, modes, output_dir), columns


def parse_modes(values):
  if values == ["all"] or not values:
    return list(downstream.MODES)
  unknown = [m for m in values if m not in downstream.MODES]
  if unknown:
    raise ValueError(f"--mode: unknown {unknown}; choose from "
                     f"{', '.join(downstream.MODES)} or all")
  return [m for m, _ in ROWS if m in values]


def main(argv):
  del argv
  try:
    if bool(FLAGS.task) == bool(FLAGS.suite):
      raise ValueError("give exactly one of --task and --suite")
    modes = parse_modes(FLAGS.mode)
    factory = EncoderFactory(FLAGS.model, FLAGS.config, FLAGS.seed)
    settings = downstream.Settings(
        steps=FLAGS.steps, batch_size=FLAGS.batch_size,
        learning_rate=FLAGS.learning_rate,
        window_seconds=FLAGS.window_seconds or factory.window_seconds(),
        normalize=FLAGS.normalize, seed=FLAGS.seed,
        max_test_clips=FLAGS.max_test_clips)
    output_dir = FLAGS.output_dir
    if output_dir is None and factory.is_workdir:
      paths.check_inside(FLAGS.model, ["eval"])  # Not through a link.
      output_dir = filesystem.join(FLAGS.model, "eval")
    output_dir = output_dir or "eval"
    filesystem.makedirs(output_dir)
    if FLAGS.suite:
      table, _ = run_suite(FLAGS.suite, factory, modes, settings, output_dir,
                           FLAGS.suite_tasks, FLAGS.train_split,
                           FLAGS.test_split)
    else:
      task = tasks_lib.load_task(
          FLAGS.task, FLAGS.test_task, FLAGS.test_fraction, FLAGS.seed,
          FLAGS.label_key, FLAGS.train_split, FLAGS.test_split)
      results = evaluate_task(task, factory, modes, settings, output_dir,
                              FLAGS.task)
      table = write_table({FLAGS.task: results}, modes, output_dir)
  except (ValueError, FileNotFoundError, data_sources.NoUsableData,
          state_files.WriteFailed) as e:
    print(f"error: {e}", file=sys.stderr)
    return 1
  print()
  print(table)
  print(f"\nresults in {filesystem.absolute(output_dir)}")
  return 0


def define_flags():
  """The command's flags (defined only when run as a command, so that
  importing this module never clashes with another command's flags)."""
  flags.DEFINE_string("model", None, "Training workdir or SavedModel.")
  flags.DEFINE_string("task", None, "synthetic[:N], files:DIR, "
                      "files:LIST.csv or tfds:NAME[:TRAIN_SPLIT].")
  flags.DEFINE_enum("suite", None, list(SUITES), "Run a suite of TFDS tasks "
                    "instead of --task.")
  flags.DEFINE_list("suite_tasks", None, "Only these suite columns or TFDS "
                    "names.")
  flags.DEFINE_list("mode", ["all"], "Comma-separated of random, supervised, "
                    "linear, finetune; or all.")
  config_flags.DEFINE_config_file(
      "config", None, "Training config of the architecture for the random and "
      "supervised rows when --model is a SavedModel (default: the workdir's).",
      lock_config=False)
  flags.DEFINE_string("test_task", None, "Test set for a files: task "
                      "(default: a stratified hold-out of --task).")
  flags.DEFINE_float("test_fraction", 0.2, "Held-out share of each class for "
                     "files: tasks.")
  flags.DEFINE_string("label_key", "label", "TFDS feature used as the label "
                      "(nested: a/b).")
  flags.DEFINE_string("train_split", "train", "TFDS training split.")
  flags.DEFINE_string("test_split", "test", "TFDS test split.")
  flags.DEFINE_integer("steps", 1000, "Training steps per mode.")
  flags.DEFINE_integer("batch_size", 32, "Crops per step.")
  flags.DEFINE_float("learning_rate", 1e-3, "Adam learning rate.")
  flags.DEFINE_float("window_seconds", None, "Training crop and test window "
                     "(default: the model's window, 1 s).")
  flags.DEFINE_enum("normalize", "none", downstream.NORMALIZATIONS,
                    "L2 normalisation of the audio before the model: none "
                    "(the model levels each window itself), per clip, or "
                    "per crop/window (the authors' downstream code); for "
                    "models exported without a level step.")
  flags.DEFINE_integer("max_test_clips", 0, "Score at most this many test "
                       "clips (0: all).")
  flags.DEFINE_integer("seed", 0, "Seed of crops, heads and random encoders.")
  flags.DEFINE_string("output_dir", None, "Results directory (default: "
                      "WORKDIR/eval, or ./eval for a SavedModel).")


FLAGS = flags.FLAGS
