"""The quality benchmark end to end at toy size, so that it cannot rot:
both trainers' command lines on a pool of audio files, the SavedModel of a
checkpoint and of the random init through common.embed, the hand-made
baselines, the probe, and the JSON, table and plot it writes. The figures
themselves mean nothing at this size; nothing about them is asserted
except that they are accuracies."""

import json
import os

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
  expected = {*quality.HANDMADE, quality.BEST_HANDMADE, "cola",
              "cola_random_init", "multimodal", "multimodal_random_init"}
  assert set(rows) == expected
  for name, scores in rows.items():
    assert set(scores) == {"first", "second"}, name
    assert all(0.0 <= v <= 1.0 for v in scores.values()), name
  for name in ("cola", "multimodal"):
    run = result["runs"][name]
    assert run["steps"] == 4 and run["cpu_seconds"] > 0
    # Random init, the checkpoint at step 2, the final model at step 4.
    assert [p["step"] for p in run["curve"]] == [0, 2, 4]
    assert np.all(np.diff([p["cpu_seconds"] for p in run["curve"]]) > 0)
  table = (output / "quality.md").read_text()
  assert "| **mean** |" in table and "best_handmade" in table
  assert (output / "quality.png").stat().st_size > 0


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
