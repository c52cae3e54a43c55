"""Smoke test of the benchmark harness at tiny sizes: every benchmark runs,
writes its JSON with the fields the table reads, and the table renders.
Correctness of the harness only; no timing is asserted."""

import json
import os

import pytest

from benchmarks import embedding_extraction
from benchmarks import frontend_throughput
from benchmarks import input_pipeline
from benchmarks import multimodal_cost
from benchmarks import run as run_lib
from benchmarks import training_step


@pytest.fixture(scope="module")
def results(tmp_path_factory):
  return str(tmp_path_factory.mktemp("results"))


def _run(module, stem, results, extra=()):
  output = os.path.join(results, f"{stem}.json")
  module.main(list(module.SMOKE_ARGS) + [f"--output={output}", *extra])
  with open(output) as f:
    return json.load(f)


def test_frontend(results):
  r = _run(frontend_throughput, "frontend", results)
  assert set(r["candidates"]) >= {"batched", "per_example_map",
                                  "per_example_loop"}
  # Same feature: per-example equals batched; librosa close (mel filters
  # differ slightly), its STFT with tf.signal's mel matrix much closer.
  assert r["max_abs_diff_log_mel"]["per_example"] < 1e-4
  if "librosa" in r["candidates"]:
    assert r["max_abs_diff_log_mel"]["librosa_stft_tf_mel"] < 1e-3
    assert r["max_abs_diff_log_mel"]["librosa"] < 0.1
  assert len(r["growth"]["length"]) >= 3 and len(r["growth"]["batch"]) >= 3
  assert r["peak_rss_mb"] > 0 and r["load_average_before"]


def test_input_pipeline(results):
  r = _run(input_pipeline, "input_pipeline", results)
  assert r["candidates"]["project"]["examples_per_cpu_second"] > 0
  assert r["speedup_per_core"] > 0
  assert r["authors_vs_layer_max_abs_diff"] < 1e-4
  assert len(r["growth"]["length"]) >= 3 and len(r["growth"]["batch"]) >= 3


def test_training_step(results):
  r = _run(training_step, "training_step", results)
  (row,) = r["rows"]
  assert "error" not in row, row
  assert row["speedup"] > 0 and row["step_gflop"] > 0
  assert row["matmul"]["gflops_median"] > 0 and row["peak_rss_mb"] > 0


def test_multimodal_cost(results):
  r = _run(multimodal_cost, "multimodal_cost", results,
           [f"--plot={os.path.join(results, 'multimodal_cost.png')}"])
  rows = r["by_resolution"]["rows"]
  assert rows[0]["resolution"] is None and len(rows) == 3
  assert r["target"]["relative_cost"] is not None
  assert len(r["by_batch"]) == 3
  assert os.path.getsize(os.path.join(results, "multimodal_cost.png")) > 0


def test_embedding_extraction(results):
  r = _run(embedding_extraction, "embedding_extraction", results)
  assert "tflite_error" not in r, r.get("tflite_error")
  for name in ("keras", "saved_model", "tflite"):
    assert r["candidates"][name]["max_abs_diff_vs_saved_model"] < 1e-3
  rows = r["long_file"]["rows"]
  assert [x["path_kind"] for x in rows] == ["keras", "saved_model", "tflite"]
  for row in rows:
    assert "error" not in row, row
    assert row["windows"] == 2 and row["peak_rss_mb"] > 0


def test_table(results):
  with open(os.path.join(results, "run.json"), "w") as f:
    json.dump({"machine": {"device": "CPU"}, "started": "now",
               "total_seconds": 1.0, "smoke": True}, f)
  text = run_lib.table(results)
  for figure in ("input pipeline", "training step, batch 4", "log-mel",
                 "multimodal step", "embeddings", "peak RSS", "growth",
                 "multimodal_cost.png"):
    assert figure in text, figure
