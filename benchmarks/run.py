"""Runs every benchmark, then writes the markdown table of their results.

  python -m benchmarks.run                 # all, ~20 min on a 2-core CPU
  python -m benchmarks.run --only=frontend_throughput,input_pipeline
  python -m benchmarks.run --table_only    # rebuild results/README.md

Each benchmark runs in its own process (its peak memory is its own) and
writes benchmarks/results/<name>.json; this writes results/README.md (the
table the README shows), results/run.json (what ran, exit codes, seconds)
and, through multimodal_cost, results/multimodal_cost.png. Every figure is
a ratio against a baseline timed in the same process, so load from other
work on the machine moves both sides; the load average is in every JSON.
"""

import argparse
import importlib
import json
import os
import subprocess
import sys
import time

if __package__ in (None, ""):
  sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(
      __file__))))

from benchmarks import harness  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# (module, result file stem, extra arguments for the full run)
BENCHMARKS = [
    ("frontend_throughput", "frontend", ["--repeats=3"]),
    ("input_pipeline", "input_pipeline", []),
    ("embedding_extraction", "embedding_extraction", []),
    ("multimodal_cost", "multimodal_cost", []),
    ("prepare_throughput", "prepare", ["--files=6", "--repeats=1"]),
    ("training_step", "training_step", []),
]


def smoke_args(module):
  if module == "prepare_throughput":
    return ["--files=1", "--seconds=2", "--width=64", "--height=48",
            "--clip_seconds=2", "--num_shards=1", "--repeats=1"]
  return list(importlib.import_module(f"benchmarks.{module}").SMOKE_ARGS)


def run_all(names, results_dir, smoke=False, env=None):
  status = {"started": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
            "machine": harness.machine(), "smoke": smoke,
            "load_average_before": harness.load_average(), "benchmarks": {}}
  start = time.perf_counter()
  for module, stem, extra in BENCHMARKS:
    if names and module not in names:
      continue
    output = os.path.join(results_dir, f"{stem}.json")
    args = smoke_args(module) if smoke else extra
    cmd = [sys.executable, "-m", f"benchmarks.{module}", f"--output={output}"]
    cmd += args
    if module == "multimodal_cost":
      cmd.append("--plot=" + os.path.join(results_dir, "multimodal_cost.png"))
    if module == "prepare_throughput" and smoke:
      cmd.append("--corpus_dir=" + os.path.join(results_dir, "corpus"))
    print(f"== {module}: {' '.join(cmd[1:])}", flush=True)
    t0 = time.perf_counter()
    done = subprocess.run(cmd, cwd=ROOT, env=env)
    seconds = round(time.perf_counter() - t0, 1)
    status["benchmarks"][module] = {"exit_code": done.returncode,
                                    "seconds": seconds, "output": output}
    print(f"== {module}: exit {done.returncode} in {seconds} s", flush=True)
  status["total_seconds"] = round(time.perf_counter() - start, 1)
  status["load_average_after"] = harness.load_average()
  with open(os.path.join(results_dir, "run.json"), "w") as f:
    json.dump(status, f, indent=2)
  return status


def _load(results_dir, stem):
  path = os.path.join(results_dir, f"{stem}.json")
  if not os.path.exists(path):
    return None
  with open(path) as f:
    return json.load(f)


def _fmt(x, digits=3):
  if x is None:
    return "n/a"
  if isinstance(x, bool):
    return "yes" if x else "**no**"
  if isinstance(x, float):
    return f"{harness.rounded(x, digits):g}"
  return str(x)


def _met(ratio, target, higher=True):
  if ratio is None:
    return "n/a"
  ok = ratio >= target if higher else ratio <= target
  return "yes" if ok else "**no**"


def table(results_dir):
  """The markdown summary of whatever results exist in `results_dir`."""
  lines = ["| # | figure | project | baseline | ratio | target | met |",
           "|---|---|---|---|---|---|---|"]
  notes = []
  r = _load(results_dir, "input_pipeline")
  if r:
    c = r["candidates"]
    lines.append(
        f"| 1 | input pipeline, examples/s per core (wall) | "
        f"{_fmt(c['project']['examples_per_cpu_second'])} "
        f"({_fmt(c['project']['examples_per_second'])}) | "
        f"{_fmt(c['authors']['examples_per_cpu_second'])} "
        f"({_fmt(c['authors']['examples_per_second'])}) | "
        f"{_fmt(r['speedup_per_core'])}x | >= 5x | "
        f"{_met(r['speedup_per_core'], 5)} |")
  r = _load(results_dir, "training_step")
  if r:
    for row in r["rows"]:
      label = f"training step, batch {row['batch']}" + (
          ", XLA" if row["xla"] else "")
      if "error" in row:
        lines.append(f"| 2 | {label} | failed | | | | |")
        continue
      target = ">= 1.2x" if row["batch"] in (64, 256) else "(growth)"
      met = _met(row["speedup"], 1.2) if row["batch"] in (64, 256) else ""
      lines.append(
          f"| 2 | {label}, examples/s | "
          f"{_fmt(row['project']['examples_per_second'])} | "
          f"{_fmt(row['authors']['examples_per_second'])} | "
          f"{_fmt(row['speedup'])}x | {target} | {met} |")
    for row in r["rows"]:
      if "achieved_gflops" in row:
        lines.append(
            f"| 2 | step GFLOP/s, batch {row['batch']}"
            f"{', XLA' if row['xla'] else ''} (vs dense matmul) | "
            f"{_fmt(row['achieved_gflops'])} | "
            f"{_fmt(row['matmul']['gflops_median'])} | "
            f"{_fmt(row['fraction_of_matmul'])} | | |")
  r = _load(results_dir, "frontend")
  if r:
    c = r["candidates"]
    d = r["max_abs_diff_log_mel"]
    for name, diff in (("per_example_map", d.get("per_example")),
                       ("per_example_loop", d.get("per_example")),
                       ("librosa", d.get("librosa"))):
      if name in c:
        lines.append(
            f"| 3 | log-mel, audio s/s: batched vs {name} "
            f"(max abs diff {_fmt(diff)}) | "
            f"{_fmt(c['batched']['audio_seconds_per_second'])} | "
            f"{_fmt(c[name]['audio_seconds_per_second'])} | "
            f"{_fmt(c[name]['batched_speedup'])}x | | |")
  r = _load(results_dir, "multimodal_cost")
  if r:
    for row in r["by_resolution"]["rows"]:
      if row["resolution"] is None:
        continue
      is_target = row["resolution"] == r["target"]["resolution"]
      limit = r["target"]["max_relative_cost"]
      lines.append(
          f"| 4 | multimodal step, {row['resolution']} px, batch "
          f"{r['by_resolution']['batch']}: seconds vs audio-only | "
          f"{_fmt(row['step_seconds'])} | "
          f"{_fmt(r['by_resolution']['rows'][0]['step_seconds'])} | "
          f"{_fmt(row['relative_to_audio_only'])}x | "
          f"{f'<= {limit}x' if is_target else ''} | "
          f"{_met(row['relative_to_audio_only'], limit, False) if is_target else ''} |")
    for row in r["by_batch"]:
      lines.append(
          f"| 4 | multimodal step, {row['resolution']} px, batch "
          f"{row['batch']}: seconds vs audio-only | {_fmt(row['step_seconds'])}"
          f" | {_fmt(row['audio_only_step_seconds'])} | "
          f"{_fmt(row['relative_to_audio_only'])}x | | |")
  r = _load(results_dir, "embedding_extraction")
  if r:
    c = r["candidates"]
    for name in c:
      if name == "keras":
        continue
      if name == "tflite_int8":  # Quantized: compared by direction.
        met = _met(c[name]["speedup_vs_keras"], 2.0)
        lines.append(
            f"| 5 | embeddings, x real time: tflite_int8 vs Keras (min "
            f"cosine vs SavedModel {_fmt(c[name]['min_cosine_vs_saved_model'])}"
            f") | {_fmt(c[name]['x_real_time'])} | "
            f"{_fmt(c['keras']['x_real_time'])} | "
            f"{_fmt(c[name]['speedup_vs_keras'])}x | >= 2.0x | {met} |")
        continue
      met = _met(c[name]["speedup_vs_keras"], 1.3) if (
          name == r["fastest_export"]) else ""
      lines.append(
          f"| 5 | embeddings, x real time: {name} vs Keras (max abs diff vs "
          f"SavedModel {_fmt(c[name]['max_abs_diff_vs_saved_model'])}) | "
          f"{_fmt(c[name]['x_real_time'])} | {_fmt(c['keras']['x_real_time'])}"
          f" | {_fmt(c[name]['speedup_vs_keras'])}x | "
          f"{'>= 1.3x (fastest)' if met else ''} | {met} |")
    for row in (r.get("long_file") or {}).get("rows", []):
      if "error" in row:
        lines.append(f"| 5 | 1-hour file, {row['path_kind']} | failed | | | | |")
        continue
      lines.append(
          f"| 5 | {r['long_file']['audio_seconds'] / 3600:g} h file, "
          f"{row['path_kind']}: peak RSS MB (model loaded), x real time | "
          f"{_fmt(row['peak_rss_mb'])} ({_fmt(row['rss_model_loaded_mb'])}),"
          f" {_fmt(row['x_real_time'])} | | | | |")
  r = _load(results_dir, "prepare")
  if r and r.get("ffmpeg"):
    lines.append(
        f"| 6 | prepare, clips per CPU-second vs ffmpeg decode-only | "
        f"{_fmt(r['pipeline']['clips_per_cpu_second'])} | "
        f"{_fmt(r['ffmpeg']['clips_per_cpu_second'])} | "
        f"{_fmt(r['pipeline_vs_ffmpeg_per_core'])}x | | |")

  # 7: peak memory and growth.
  mem = ["", "| benchmark | peak RSS MB | load average before -> after |"
         " seconds |", "|---|---|---|---|"]
  for stem in ("input_pipeline", "training_step", "frontend",
               "multimodal_cost", "embedding_extraction", "prepare"):
    r = _load(results_dir, stem)
    if not r:
      continue
    peak = r.get("peak_rss_mb")
    if stem == "training_step":
      peak = ", ".join(
          f"b{row['batch']}{' XLA' if row['xla'] else ''}: "
          f"{_fmt(row.get('peak_rss_mb'))}" for row in r["rows"])
    before = r.get("load_average_before") or r.get("machine", {}).get(
        "load_average_before")
    after = r.get("load_average_after")
    mem.append(f"| {stem} | {_fmt(peak)} | {before} -> {after} | "
               f"{_fmt(r.get('benchmark_seconds'))} |")
  growth = ["", "| growth | points (x: rate) |", "|---|---|"]
  r = _load(results_dir, "frontend")
  if r:
    for kind, key, unit in (("length", "seconds", "s"), ("batch", "batch", "")):
      growth.append(f"| log-mel layer vs {kind} (audio s/s) | " + ", ".join(
          f"{p[key]:g}{unit}: {_fmt(p['audio_seconds_per_second'])}"
          for p in r["growth"][kind]) + " |")
  r = _load(results_dir, "input_pipeline")
  if r:
    for kind, key, unit in (("clip length", "clip_seconds", "s"),
                            ("batch", "batch", "")):
      points = r["growth"]["length" if kind == "clip length" else "batch"]
      growth.append(f"| input pipeline vs {kind} (examples/s per core) | "
                    + ", ".join(f"{p[key]:g}{unit}: "
                                f"{_fmt(p['examples_per_cpu_second'])}"
                                for p in points) + " |")
  r = _load(results_dir, "training_step")
  if r:
    rows = [x for x in r["rows"] if not x["xla"] and "error" not in x]
    growth.append("| training step vs batch (seconds; examples/s) | " +
                  ", ".join(f"{x['batch']}: {_fmt(x['project']['step_seconds'])}"
                            f"; {_fmt(x['project']['examples_per_second'])}"
                            for x in rows) + " |")
  r = _load(results_dir, "multimodal_cost")
  if r:
    growth.append("| multimodal step vs batch (seconds) | " + ", ".join(
        f"{x['batch']}: {_fmt(x['step_seconds'])}" for x in r["by_batch"])
                  + " |")
  r = _load(results_dir, "embedding_extraction")
  if r:
    g = r["growth_saved_model"]
    growth.append("| SavedModel vs clip length (x real time) | " + ", ".join(
        f"{p['seconds']:g}s: {_fmt(p['x_real_time'])}" for p in g["length"])
                  + " |")
    growth.append("| SavedModel vs clips per call (x real time) | " +
                  ", ".join(f"{p['clips']}: {_fmt(p['x_real_time'])}"
                            for p in g["batch"]) + " |")
  run = _load(results_dir, "run")
  head = ["# Benchmark results", ""]
  if run:
    head.append(f"`python -m benchmarks.run` on {run['machine']['device']}, "
                f"started {run['started']}, {run['total_seconds']:g} s in all"
                f"{' (smoke sizes)' if run.get('smoke') else ''}.")
    head.append("")
  if os.path.exists(os.path.join(results_dir, "multimodal_cost.png")):
    notes.append("![multimodal step cost](multimodal_cost.png)")
  return "\n".join(head + lines + mem + growth + [""] + notes) + "\n"


def main(argv=None):
  parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
  parser.add_argument("--only", default="",
                      help="comma-separated benchmark modules")
  parser.add_argument("--results_dir", default=harness.RESULTS_DIR)
  parser.add_argument("--smoke", action="store_true",
                      help="tiny sizes: checks the harness, not speed")
  parser.add_argument("--table_only", action="store_true")
  args = parser.parse_args(argv)
  os.makedirs(args.results_dir, exist_ok=True)
  if not args.table_only:
    names = [n for n in args.only.split(",") if n]
    status = run_all(names, args.results_dir, smoke=args.smoke)
  text = table(args.results_dir)
  with open(os.path.join(args.results_dir, "README.md"), "w") as f:
    f.write(text)
  print(text)
  if not args.table_only:
    failed = [m for m, s in status["benchmarks"].items() if s["exit_code"]]
    print(f"total {status['total_seconds']} s"
          + (f"; failed: {', '.join(failed)}" if failed else ""))
    return 1 if failed else 0
  return 0


if __name__ == "__main__":
  sys.exit(main())
