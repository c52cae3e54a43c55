"""Downstream evaluation: the four-row table on a COLA workdir, COLA's TFDS
suite on mock data, files tasks (single and multi-label), the protocol."""

import json
import subprocess
import sys

import numpy as np
import pytest
import soundfile
import tensorflow as tf
import tensorflow_datasets as tfds

from cola.configs import tiny
from common.eval import downstream
from common.eval import evaluate
from common.eval import tasks
from tests import seed_models

FAST = downstream.Settings(steps=6, batch_size=8, stats_batches=1,
                           shuffle_buffer=64, log_every=3)
ROWS = ["Random", "Supervised", "Frozen", "Fine-tuned"]


@pytest.fixture(scope="module")
def workdir(tmp_path_factory):
  return seed_models.tiny_workdir(str(tmp_path_factory.getbasetemp()))


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
  return seed_models.saved_model(str(tmp_path_factory.getbasetemp()))


def table_rows(text):
  return [line.split("|")[1].strip() for line in text.splitlines()
          if line.startswith("| ") and not line.startswith("|  |")]


def test_cli_prints_the_four_row_table_for_a_workdir(workdir, tmp_path,
                                                     child_env):
  out = tmp_path / "eval"
  result = subprocess.run(
      [sys.executable, "-m", "common.evaluate", f"--model={workdir}",
       "--task=synthetic:24", "--steps=6", "--batch_size=8",
       f"--output_dir={out}"], env=child_env, capture_output=True, text=True,
      timeout=600)
  assert result.returncode == 0, result.stderr[-3000:]
  table = result.stdout[result.stdout.index("|  | synthetic:24 |"):]
  assert table_rows(table) == ROWS
  assert (out / "table.md").read_text().strip() == table.split(
      "\n\nresults in")[0].strip()
  for mode in downstream.MODES:
    record = json.loads((out / f"synthetic_24-{mode}.json").read_text())
    assert record["metric"] == "accuracy" and 0 <= record["value"] <= 1
    assert record["test_clips"] == 6 and record["train_clips"] == 24
    assert np.sum(record["confusion"]) == 6
    assert record["loss_curve"][-1][0] == 6
    png = (out / f"synthetic_24-{mode}-confusion.png").read_bytes()
    assert png.startswith(b"\x89PNG")


def test_cola_suite_on_tfds_mock_data(workdir, tmp_path):
  """COLA's tasks by their TFDS names (mock examples: random int audio of a
  few samples, random labels). NSynth runs all four modes (its label is the
  nested instrument/family); the others must open and stream."""
  with tfds.testing.mock_data(num_examples=8,
                              policy=tfds.testing.MockPolicy.USE_CODE):
    table, columns = evaluate.run_suite(
        "cola", evaluate.EncoderFactory(workdir), list(downstream.MODES),
        FAST, str(tmp_path), only=["nsynth"])
    for column, (name, key) in tasks.COLA_SUITE.items():
      task = tasks.load_task(f"tfds:{name}", label_key=key)
      example = next(task.test.dataset().as_numpy_iterator())
      assert example["audio"].dtype == np.float32, column
      assert 0 <= example["label"] < task.num_outputs, column
  assert table.splitlines()[0] == "|  | NSynth instrument |"
  assert table_rows(table) == ROWS
  result = columns["NSynth instrument"]["linear"]
  assert result.test_clips == 8 and len(result.confusion) == 11
  assert (tmp_path / "NSynth_instrument-finetune-confusion.png").exists()
  saved_table = json.loads((tmp_path / "table.json").read_text())
  assert set(saved_table["NSynth instrument"]) == set(downstream.MODES)


def test_markdown_table_has_the_papers_rows_and_an_average():
  def result(value):
    return downstream.Result("", "accuracy", value, 0, 0, [], [], 0.0)
  columns = {"A": {m: result(0.5) for m in downstream.MODES},
             "B": {m: result(0.25) for m in downstream.MODES}}
  columns["B"]["finetune"] = result(1.0)
  assert evaluate.markdown_table(columns, list(downstream.MODES)) == (
      "|  | A | B | Average |\n"
      "|---|---|---|---|\n"
      "| Random | 50.0 | 25.0 | 37.5 |\n"
      "| Supervised | 50.0 | 25.0 | 37.5 |\n"
      "| Frozen | 50.0 | 25.0 | 37.5 |\n"
      "| Fine-tuned | 50.0 | 100.0 | 75.0 |")


def write_clips(root, labels, rng, seconds=1.5):
  rows = []
  for i, label in enumerate(labels):
    name = f"clip{i}.wav"
    tone = np.sin(2 * np.pi * (200 + 300 * (hash(label) % 5)) *
                  np.arange(int(seconds * 16000)) / 16000)
    soundfile.write(root / name, (0.3 * tone + 0.05 * rng.standard_normal(
        tone.shape)).astype(np.float32), 16000)
    rows.append(f"{name},{label}")
  (root / "labels.csv").write_text("path,label\n" + "\n".join(rows) + "\n")
  return root / "labels.csv"


def test_multi_label_files_task_reports_map(saved, tmp_path):
  rng = np.random.default_rng(0)
  labels = ["dog;bark", "dog", "cat;meow", "cat", "bark", "meow"] * 4
  csv = write_clips(tmp_path, labels, rng)
  task = tasks.load_task(f"files:{csv}", test_fraction=0.25)
  assert task.multi_label and task.label_names == ["bark", "cat", "dog",
                                                   "meow"]
  assert task.train_size == 18 and len(task.test) == 6
  result = downstream.run(task, downstream.SavedModelEncoder(
      tf.saved_model.load(saved)), "linear", FAST)
  assert result.metric == "mAP" and 0 < result.value <= 1
  assert np.array(result.confusion).shape == (4, 4)


def test_mean_average_precision():
  targets = np.array([[1, 0], [0, 1], [1, 0], [0, 0]])
  perfect = np.array([[0.9, 0.1], [0.2, 0.8], [0.8, 0.3], [0.1, 0.2]])
  assert downstream.mean_average_precision(perfect, targets) == 1.0
  # Class 0 ranked: pos, neg, pos -> AP (1 + 2/3) / 2; class 1 perfect.
  mixed = np.array([[0.9, 0.1], [0.5, 0.8], [0.4, 0.3], [0.1, 0.2]])
  assert downstream.mean_average_precision(mixed, targets) == pytest.approx(
      ((1 + 2 / 3) / 2 + 1) / 2)


def test_test_clip_logits_are_the_mean_over_windows(saved):
  """A 3.4 s clip is scored by its three non-overlapping 1 s windows."""
  task = tasks.load_task("synthetic:12")
  classifier = downstream.Classifier(downstream.SavedModelEncoder(
      tf.saved_model.load(saved)), 6, False, False)
  settings = downstream.Settings(normalize="none")
  clip = np.random.default_rng(0).uniform(-0.5, 0.5, 54400).astype(
      np.float32)
  classifier.fit_standardisation([tf.constant(clip[np.newaxis, :16000])])
  classifier.head.kernel.assign(np.random.default_rng(1).normal(
      size=classifier.head.kernel.shape))

  class OneClip:
    def dataset(self):
      return tf.data.Dataset.from_tensors({"audio": clip, "label": 3})

  logits, labels = downstream.predict_clips(classifier, OneClip(), settings)
  windows = clip[:48000].reshape(3, 16000)
  want = classifier(tf.constant(windows)).numpy().mean(axis=0)
  np.testing.assert_allclose(logits[0], want, rtol=1e-5, atol=1e-5)
  assert labels == [3] and task.num_outputs == 6


def test_stratified_split_holds_out_each_class():
  labels = np.array([0] * 10 + [1] * 5 + [2])
  train, test = tasks.stratified_split(labels, 0.2, seed=0)
  assert sorted(np.concatenate([train, test])) == list(range(16))
  assert list(np.bincount(labels[test], minlength=3)) == [2, 1, 0]
  again = tasks.stratified_split(labels, 0.2, seed=0)
  np.testing.assert_array_equal(again[1], test)


def test_baselines_from_a_saved_model_need_its_config(saved):
  with pytest.raises(ValueError, match="--config"):
    evaluate.EncoderFactory(saved)("random")
  encoder = evaluate.EncoderFactory(saved, config=tiny.get_config())("random")
  out = encoder(tf.zeros([2, 16000]))
  assert out.shape == (2, 16)


def test_finetuning_a_saved_model_trains_its_variables(saved):
  encoder = downstream.SavedModelEncoder(tf.saved_model.load(saved))
  variables = encoder.trainable_variables
  assert variables and all(v.trainable for v in variables)
  before = [v.numpy().copy() for v in variables]
  frozen = downstream.SavedModelEncoder(tf.saved_model.load(saved))
  frozen_before = [v.numpy().copy() for v in frozen.trainable_variables]
  task = tasks.load_task("synthetic:12")
  downstream.run(task, encoder, "finetune", FAST)
  downstream.run(task, frozen, "linear", FAST)
  assert any(not np.allclose(a, v.numpy()) for a, v in zip(before, variables))
  for a, v in zip(frozen_before, frozen.trainable_variables):
    np.testing.assert_array_equal(a, v.numpy())
