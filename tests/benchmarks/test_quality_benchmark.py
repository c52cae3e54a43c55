"""The quality benchmark end to end at toy size, so that it cannot rot:
both trainers' command lines on a pool of audio files, two seeds of each,
the SavedModel of a checkpoint and of the random init through common.embed,
the hand-made baselines and their cache, the probe, the paired differences,
and the JSON, table and plot it writes. The figures themselves mean nothing
at this size; nothing about them is asserted except that they are
accuracies and that the aggregates agree with the per-seed values."""

import json
import os
import statistics

import numpy as np
import pytest
import soundfile as sf

from benchmarks import quality
from common.data import synthetic
from tests import processes

TINY = {method: os.path.join(processes.ROOT, method, "configs", "tiny.py")
        for method in ("cola", "multimodal")}


def write_clips(folder, clips):
  os.makedirs(folder, exist_ok=True)
  for i, clip in enumerate(clips):
    sf.write(os.path.join(folder, f"clip{i}.wav"), clip.audio, 16000)


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
  """A pool of 12 unlabelled clips and two tasks of two classes each."""
  root = tmp_path_factory.mktemp("quality")
  clips = synthetic.make_clips(60, seed=5, seconds=1.5)
  write_clips(str(root / "pool"), clips[:12])
  by_kind = {}
  for clip in clips[12:]:
    by_kind.setdefault(clip.label, []).append(clip)
  kinds = sorted(by_kind)[:4]
  for task, pair in (("first", kinds[:2]), ("second", kinds[2:4])):
    for kind in pair:
      chosen = by_kind[kind]
      write_clips(str(root / "tasks" / task / "train" / f"kind{kind}"),
                  chosen[:3])
      write_clips(str(root / "tasks" / task / "test" / f"kind{kind}"),
                  chosen[3:5])
  return root


@pytest.mark.slow
def test_the_benchmark_runs_end_to_end(corpus, tmp_path):
  output = tmp_path / "results"
  code = quality.main([
      f"--pool={corpus / 'pool'}", f"--tasks={corpus / 'tasks'}",
      f"--workdir={tmp_path / 'runs'}", f"--output={output}",
      f"--run=cola=cola --config={TINY['cola']}",
      f"--run=multimodal=multimodal --config={TINY['multimodal']}"])
  assert code == 0
  with open(output / "quality.json") as f:
    result = json.load(f)
  rows = result["accuracy"]
  trained = {"cola", "cola_random_init", "multimodal",
             "multimodal_random_init"}
  expected = {*quality.HANDMADE, quality.BEST_HANDMADE, *trained}
  assert set(rows) == expected
  for name, scores in rows.items():
    assert set(scores) == {"first", "second"}, name
    assert all(0.0 <= v <= 1.0 for v in scores.values()), name
  assert set(result["accuracy_by_seed"]) == trained
  for name in trained:
    assert result["accuracy_by_seed"][name] == {"0": rows[name]}
  for name in ("cola", "multimodal"):
    run = result["runs"][name]
    assert run["steps"] == 4 and run["cpu_seconds"] > 0
    assert "--config.seed=0" in run["command"]
    # Random init, the checkpoint at step 2, the final model at step 4.
    assert [p["step"] for p in run["curve"]] == [0, 2, 4]
    assert np.all(np.diff([p["cpu_seconds"] for p in run["curve"]]) > 0)
    assert (tmp_path / "runs" / name / "seed-0" / "saved_model").is_dir()
    assert (tmp_path / "runs" / name / "seed-0-random" /
            "saved_model").is_dir()
  # One seed: every comparison, each without a spread.
  assert list(result["paired_differences"]) == [
      "cola - multimodal", "cola - cola_random_init", "cola - best_handmade",
      "multimodal - multimodal_random_init", "multimodal - best_handmade"]
  difference = result["paired_differences"]["cola - multimodal"]
  assert difference["mean"] == pytest.approx(
      result["mean"]["cola"] - result["mean"]["multimodal"])
  assert (difference["sd"], difference["n"]) == (0.0, 1)
  table = (output / "quality.md").read_text()
  assert "| **mean** |" in table and "best_handmade" in table
  assert "±" not in table
  assert "| cola - multimodal |" in table
  assert (output / "quality.png").stat().st_size > 0
  clips = sum(sum(v.values()) for v in result["task_clips"].values())
  cache = tmp_path / "runs" / quality.HANDMADE_CACHE
  assert result["handmade_cache"]["computed"] == clips
  written = cache.stat().st_mtime_ns

  # Two seeds, in the same workdir: the hand-made features are read back
  # (the cache is not written again) and score the same; the trained rows
  # are means ± sd over seeds 0 and 1, compared by paired differences.
  again = tmp_path / "again"
  assert quality.main([
      f"--pool={corpus / 'pool'}", f"--tasks={corpus / 'tasks'}",
      f"--workdir={tmp_path / 'runs'}", f"--output={again}", "--seeds=2",
      "--no_random", "--curve_every=0",
      f"--run=seeded=cola --config={TINY['cola']}"]) == 0
  with open(again / "quality.json") as f:
    second = json.load(f)
  assert second["handmade_cache"]["read_from_cache"] == clips
  assert second["handmade_cache"]["computed"] == 0
  assert cache.stat().st_mtime_ns == written
  for name in (*quality.HANDMADE, quality.BEST_HANDMADE):
    assert second["accuracy"][name] == rows[name]
  by_seed = second["accuracy_by_seed"]["seeded"]
  assert set(by_seed) == {"0", "1"}
  for task in ("first", "second"):
    values = [by_seed[s][task] for s in ("0", "1")]
    assert second["accuracy"]["seeded"][task] == pytest.approx(
        statistics.mean(values))
    assert second["accuracy_sd"]["seeded"][task] == pytest.approx(
        statistics.stdev(values))
  per_seed = [statistics.mean(by_seed[s].values()) -
              second["best_handmade_mean"] for s in ("0", "1")]
  difference = second["paired_differences"]["seeded - best_handmade"]
  assert difference["n"] == 2
  assert list(difference["by_seed"].values()) == pytest.approx(per_seed)
  assert difference["mean"] == pytest.approx(statistics.mean(per_seed))
  assert difference["sd"] == pytest.approx(statistics.stdev(per_seed))
  for seed in ("0", "1"):
    assert (f"--config.seed={seed}" in
            second["runs"]["seeded"]["by_seed"][seed]["command"])
    assert (tmp_path / "runs" / "seeded" / f"seed-{seed}" /
            "saved_model").is_dir()
  table = (again / "quality.md").read_text()
  assert " ± " in table.split("| **mean** |")[1].splitlines()[0]
  assert "| paired difference of the task mean | mean ± sd |" in table
  assert "| seeded - best_handmade |" in table


def test_paired_differences_cover_every_comparison():
  mean_by_seed = {"a": {0: 0.70, 1: 0.72}, "a_random_init": {0: 0.65,
                                                             1: 0.66},
                  "b": {0: 0.68, 1: 0.71}, "b_random_init": {0: 0.6,
                                                             1: 0.6}}
  pairs = quality.comparisons(["a", "b"], no_random=False)
  assert pairs == [("a", "b"), ("a", "a_random_init"),
                   ("a", quality.BEST_HANDMADE), ("b", "b_random_init"),
                   ("b", quality.BEST_HANDMADE)]
  assert quality.comparisons(["a", "b"], no_random=True) == [
      ("a", "b"), ("a", quality.BEST_HANDMADE), ("b", quality.BEST_HANDMADE)]
  out = quality.paired_differences(pairs, mean_by_seed,
                                   {quality.BEST_HANDMADE: 0.69})
  # a - b: 0.02 and 0.01; a - best_handmade: 0.01 and 0.03.
  assert out["a - b"]["by_seed"] == {"0": pytest.approx(0.02),
                                     "1": pytest.approx(0.01)}
  assert out["a - b"]["mean"] == pytest.approx(0.015)
  assert out["a - b"]["sd"] == pytest.approx(0.01 / 2**0.5)
  assert out["a - best_handmade"]["mean"] == pytest.approx(0.02)
  assert out["a - best_handmade"]["sd"] == pytest.approx(0.02 / 2**0.5)
  assert out["b - b_random_init"]["mean"] == pytest.approx(0.095)
  table = quality.differences_table(out)
  assert "| a - b | +0.015 ± 0.007 | 2 | +0.020 / +0.010 |" in table


def test_the_table_shows_mean_and_sd_over_seeds():
  rows = {"best_handmade": {"t": 0.70}, "a": {"t": 0.701}}
  table = quality.markdown_table(rows, ["t"], sds={"a": {"t": 0.019}},
                                 mean_sds={"a": 0.019})
  assert "| t | 0.700 | **0.701 ± 0.019** |" in table
  assert "| **mean** | **0.700** | **0.701 ± 0.019** |" in table
  assert "±" not in quality.markdown_table(rows, ["t"])


def test_the_handmade_cache_recomputes_only_changed_files(corpus, tmp_path):
  paths = sorted(str(p) for p in (corpus / "pool").glob("*.wav"))[:3]
  copies = []
  for i, path in enumerate(paths):
    copy = tmp_path / f"clip{i}.wav"
    copy.write_bytes(open(path, "rb").read())
    copies.append(str(copy))
  cache = str(tmp_path / "cache.npz")
  first, counts = quality.cached_handmade_features(copies, cache)
  assert (counts["read_from_cache"], counts["computed"]) == (0, 3)
  # A changed file (other content, so other size or mtime) is recomputed.
  with open(paths[2], "rb") as f:
    (tmp_path / "clip0.wav").write_bytes(f.read())
  os.utime(copies[0], ns=(1, 1))
  second, counts = quality.cached_handmade_features(copies, cache)
  assert (counts["read_from_cache"], counts["computed"]) == (2, 1)
  for name in quality.HANDMADE:
    np.testing.assert_array_equal(second[name][copies[1]],
                                  first[name][copies[1]])
    np.testing.assert_array_equal(second[name][copies[0]],
                                  first[name][copies[2]])
  # A damaged cache is computed again, not an error.
  with open(cache, "wb") as f:
    f.write(b"not a zip file")
  _, counts = quality.cached_handmade_features(copies, cache)
  assert (counts["read_from_cache"], counts["computed"]) == (0, 3)


def test_paired_difference_on_numbers_worked_by_hand():
  # Differences 0.02, 0.03, -0.01: mean 0.04 / 3; squared deviations from
  # it sum to 0.0026 / 3, so the sample variance is 0.0013 / 3.
  m, sd, n = quality.paired_difference([0.70, 0.72, 0.69],
                                       [0.68, 0.69, 0.70])
  assert n == 3
  assert m == pytest.approx(0.04 / 3)
  assert sd == pytest.approx((0.0013 / 3) ** 0.5)
  assert sd == pytest.approx(0.0208167, abs=1e-6)
  # Paired by seed when given {seed: mean}; one seed has no spread.
  assert quality.paired_difference({1: 0.5, 0: 0.7}, {0: 0.6, 1: 0.2}) == (
      pytest.approx(0.2), pytest.approx(0.1414214, abs=1e-6), 2)
  assert quality.paired_difference([0.75], [0.5]) == (0.25, 0.0, 1)
  with pytest.raises(ValueError):
    quality.paired_difference([0.7, 0.6], [0.5])


def test_a_run_may_name_any_method_with_a_training_command(
    tmp_path, monkeypatch):
  package = tmp_path / "somemethod"
  package.mkdir()
  (package / "__init__.py").write_text("")
  (package / "train.py").write_text("")
  (tmp_path / "notrainer").mkdir()
  (tmp_path / "notrainer" / "__init__.py").write_text("")
  monkeypatch.syspath_prepend(str(tmp_path))
  assert quality.parse_run("mine=somemethod --config.seed=3") == (
      "mine", "somemethod", ["--config.seed=3"])
  assert quality.parse_run("c=cola")[1] == "cola"
  for method in ("notrainer", "absent_package", "", "common"):
    with pytest.raises(ValueError,
                       match=r"training command \(python -m METHOD\.train\)"
                       rf"; '{method}' has none"):
      quality.parse_run(f"x={method}")


def test_seeds_must_be_at_least_one(corpus, capsys):
  with pytest.raises(SystemExit):
    quality.parse_args([f"--pool={corpus / 'pool'}",
                        f"--tasks={corpus / 'tasks'}", "--seeds=0"])
  assert "--seeds=0" in capsys.readouterr().err


def test_a_missing_folder_is_a_clear_error(tmp_path, capsys):
  with pytest.raises(SystemExit):
    quality.parse_args([f"--pool={tmp_path / 'absent'}",
                        f"--tasks={tmp_path}"])
  assert "not a folder" in capsys.readouterr().err


def test_tasks_without_the_layout_are_a_clear_error(tmp_path):
  (tmp_path / "task" / "train").mkdir(parents=True)
  with pytest.raises(quality.BenchmarkError, match="no TASK/train/LABEL"):
    quality.task_clips(str(tmp_path))


def test_an_unreadable_task_clip_is_a_clear_error(tmp_path):
  bad = tmp_path / "broken.wav"
  bad.write_bytes(b"RIFF not really a wave file")
  with pytest.raises(quality.BenchmarkError,
                     match=r"task clip .*broken\.wav.*fix or remove it"):
    quality.handmade_features([str(bad)])


def test_time_to_quality_interpolates_between_checkpoints():
  curve = [{"cpu_seconds": 60, "mean": 0.5}, {"cpu_seconds": 180,
                                              "mean": 0.7}]
  assert quality.time_to_quality(curve, 0.6) == pytest.approx(2.0)
  assert quality.time_to_quality(curve, 0.4) == pytest.approx(1.0)
  assert quality.time_to_quality(curve, 0.8) is None
