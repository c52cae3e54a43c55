"""What pre-training on real audio is worth: linear probes on labelled tasks.

  python -m benchmarks.quality                     # ../shared/realaudio
  python -m benchmarks.quality --pool=my/unlabelled --tasks=my/tasks
  python -m benchmarks.quality --run="cola_mix=cola --config.mixing.enabled=True"
  python -m benchmarks.quality --seeds=3           # mean ± sd, paired by seed

A run is NAME=METHOD and the trainer's own arguments, for any METHOD with a
training command (`python -m METHOD.train`). With --seeds=N each run is
pre-trained and probed N times, once per seed S in 0..N-1: its arguments
with `--config.seed=S` appended, in WORKDIR/NAME/seed-S (its random init in
WORKDIR/NAME/seed-S-random). Each run pre-trains through its method's own
command line (`python -m METHOD.train --data=files:POOL ...`, its default
config unless the run's arguments say otherwise), and its CPU seconds (user
+ system, all threads of the process and its children) and steps are
recorded. Every task clip is then embedded once per model through the
exported SavedModel exactly as a user gets it: `python -m common.embed` on
the raw files (serving_default's clip embedding: the mean over the model's
windows). The time-to-quality curve embeds the SavedModel of every
`--curve_every`-th checkpoint (`python -m common.export --weights=...`) of
the first `--curve_seeds` seeds (default 1: seed 0 only; the other seeds
probe their final model only), its CPU time read from the run's
train_summary.json (the process's CPU seconds when the checkpoint was
written, data loading included). Each run's config also gets a random-
initialisation row, per seed: the same command with
`--config.total_steps=0` (the data statistics the model stores are
measured, nothing is trained).

The hand-made baselines are computed here from the same files, decoded
with common.io.audio_io, at their own level (no normalisation), with COLA's
log-mel (64 bands, 25 ms / 10 ms, log floor 1e-5):
  log-mel mean+std   the mean and std over frames of each band (128-d)
  MFCC+delta         20 MFCCs (tf.signal) and their frame deltas, mean and
                     std of each (80-d)
  random projection  each frame projected by a fixed Gaussian 64 x 512
                     matrix (seed 0); mean and std over frames (1024-d)
"best hand-made" is, for each task, the best of the three on that task.
They are deterministic (one value, whatever --seeds), and cached in
WORKDIR/handmade_features.npz, keyed by each file's path, size and
modification time: a later invocation reads them back and recomputes only
the files that changed or are new.

The probe, the same for every representation: features standardised with
the training clips' mean and std, then scikit-learn's LogisticRegression
(L2, C=1, lbfgs, up to 1,000 iterations); the figure is the accuracy on
the task's test clips. Tasks are folders `TASK/{train,test}/LABEL/*`
(common.evaluate's files:DIR layout, split in advance); the test clips
are never trained on.

Seeds and paired differences: a trained representation's figure is the
mean over seeds, with the sample standard deviation over seeds. Runs are
compared by paired differences of the task mean (seed S of one against
seed S of the other): for every pair of runs, for each run against its
own random init, and for each run against best_handmade; each reported as
the mean ± sample sd of the N per-seed differences.

Writes OUTPUT/quality.json (per-seed accuracies under accuracy_by_seed,
their means and sds, the paired differences), OUTPUT/quality.md (tasks x
representations and the mean, "mean ± sd" cells when N > 1, then the
paired-difference table) and OUTPUT/quality.png (mean accuracy against CPU
minutes of pre-training, seed 0's checkpoints of every run). Run workdirs
go to --workdir.
"""

import argparse
import importlib.util
import itertools
import json
import math
import os
import resource
import shlex
import subprocess
import sys
import time
import zipfile

if __package__ in (None, ""):
  sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(
      __file__))))

from benchmarks import harness  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
REALAUDIO = os.path.join(os.path.dirname(ROOT), "shared", "realaudio")
DEFAULT_RUNS = ("cola=cola", "multimodal=multimodal")
HANDMADE = ("logmel_mean_std", "mfcc_delta", "random_projection")
BEST_HANDMADE = "best_handmade"
HANDMADE_CACHE = "handmade_features.npz"
# Part of the cache's key: change it when handmade_features changes.
HANDMADE_VERSION = "logmel-1e-5/mfcc20-delta/randproj64x512-seed0/v1"
SMOKE_ARGS = ()  # The test builds its own tiny pool and tasks.


class BenchmarkError(RuntimeError):
  """A run or a tool it calls failed; the message says which and why."""


def has_training_command(method):
  """Whether `python -m METHOD.train` runs a module here (a module, or a
  package with a __main__)."""
  if not method or not all(part.isidentifier()
                           for part in method.split(".")):
    return False
  try:
    spec = importlib.util.find_spec(f"{method}.train")
    if spec is not None and spec.submodule_search_locations is not None:
      spec = importlib.util.find_spec(f"{method}.train.__main__")
  except (ModuleNotFoundError, ValueError):
    return False
  return spec is not None


def parse_run(spec):
  """"NAME=METHOD [ARGS...]" -> (name, method, [args])."""
  head, _, rest = spec.partition(" ")
  name, _, method = head.partition("=")
  expected = (f"--run={spec!r}: expected NAME=METHOD, then the trainer's "
              "arguments, where METHOD is a package with a training "
              "command (python -m METHOD.train)")
  if not name or "/" in name or name in (".", ".."):
    raise ValueError(f"{expected}; NAME (a folder in --workdir) is "
                     f"{name!r}")
  if not has_training_command(method):
    raise ValueError(f"{expected}; {method!r} has none")
  return name, method, shlex.split(rest)


def task_clips(tasks_dir):
  """{task: {"train"|"test": [(path, label)]}} from TASK/SPLIT/LABEL/*."""
  from common.io import audio_io
  tasks = {}
  for task in sorted(os.listdir(tasks_dir)):
    splits = {}
    for split in ("train", "test"):
      folder = os.path.join(tasks_dir, task, split)
      if not os.path.isdir(folder):
        break
      splits[split] = [
          (os.path.join(folder, label, f), label)
          for label in sorted(os.listdir(folder))
          if os.path.isdir(os.path.join(folder, label))
          for f in sorted(os.listdir(os.path.join(folder, label)))
          if f.lower().endswith(audio_io.AUDIO_EXTENSIONS)]
    if len(splits) == 2 and splits["train"] and splits["test"]:
      tasks[task] = splits
  if not tasks:
    raise BenchmarkError(f"--tasks={tasks_dir}: no TASK/train/LABEL/ and "
                         "TASK/test/LABEL/ audio folders found")
  return tasks


def probe(train_x, train_y, test_x, test_y):
  """Test accuracy of the linear probe (module docstring)."""
  import warnings
  import numpy as np
  from sklearn import exceptions
  from sklearn import linear_model
  from sklearn import preprocessing
  scaler = preprocessing.StandardScaler().fit(train_x)
  classifier = linear_model.LogisticRegression(C=1.0, max_iter=1000)
  with warnings.catch_warnings():
    warnings.simplefilter("ignore", exceptions.ConvergenceWarning)
    classifier.fit(scaler.transform(train_x), train_y)
  predicted = classifier.predict(scaler.transform(test_x))
  return float(np.mean(predicted == np.asarray(test_y)))


def probe_tasks(tasks, features):
  """{task: accuracy} for `features` {path: vector}."""
  import numpy as np
  scores = {}
  for task, splits in tasks.items():
    arrays = {}
    for split, clips in splits.items():
      arrays[split] = (np.stack([features[p] for p, _ in clips]),
                       [label for _, label in clips])
    scores[task] = probe(*arrays["train"], *arrays["test"])
  return scores


def handmade_features(paths):
  """{baseline: {path: vector}} (module docstring)."""
  import numpy as np
  import tensorflow as tf
  from common.io import audio_io
  from common.models import frontend
  log_mel = frontend.LogMelSpectrogram()
  projection = np.random.default_rng(0).standard_normal([64, 512]) / 8.0
  out = {name: {} for name in HANDMADE}
  for path in paths:
    try:
      audio = audio_io.read_audio(path)
    except audio_io.AudioError as e:
      # Not skipped: every representation must be probed on the same clips.
      raise BenchmarkError(f"task clip {e}: fix or remove it") from e
    audio = np.pad(audio, (0, max(0, 400 - len(audio))))
    mel = log_mel(audio[np.newaxis])[0, :, :, 0]
    mfcc = tf.signal.mfccs_from_log_mel_spectrograms(mel)[:, :20].numpy()
    delta = np.diff(mfcc, axis=0, prepend=mfcc[:1])
    mel = mel.numpy()
    projected = mel @ projection

    def stats(x):
      return np.concatenate([x.mean(axis=0), x.std(axis=0)])

    out["logmel_mean_std"][path] = stats(mel)
    out["mfcc_delta"][path] = np.concatenate([stats(mfcc), stats(delta)])
    out["random_projection"][path] = stats(projected)
  return out


def _file_key(path):
  """What says a file is unchanged: its size and modification time (ns)."""
  stat = os.stat(path)
  return int(stat.st_size), int(stat.st_mtime_ns)


def _read_handmade_cache(cache_path):
  """{path: ((size, mtime_ns), {baseline: vector})} from `cache_path`;
  empty when there is none, it is unreadable or of another version."""
  import numpy as np
  if not os.path.exists(cache_path):
    return {}
  try:
    with np.load(cache_path, allow_pickle=False) as arrays:
      if str(arrays["version"]) != HANDMADE_VERSION:
        print(f"{cache_path}: made by another version of the hand-made "
              "features; computing them again", flush=True)
        return {}
      vectors = {name: arrays[name] for name in HANDMADE}
      return {str(path): ((int(size), int(mtime)),
                          {name: vectors[name][i] for name in HANDMADE})
              for i, (path, size, mtime) in enumerate(zip(
                  arrays["paths"], arrays["sizes"], arrays["mtimes_ns"]))}
  except (OSError, EOFError, KeyError, ValueError, IndexError,
          zipfile.BadZipFile) as e:
    print(f"{cache_path}: unreadable ({e}); computing the hand-made "
          "features again", flush=True)
    return {}


def _write_handmade_cache(cache_path, entries):
  """Writes {path: ((size, mtime_ns), {baseline: vector})} atomically."""
  import numpy as np
  paths = sorted(entries)
  tmp = f"{cache_path}.tmp-{os.getpid()}.npz"
  np.savez(tmp, version=np.asarray(HANDMADE_VERSION),
           paths=np.asarray(paths, dtype=str),
           sizes=np.asarray([entries[p][0][0] for p in paths], np.int64),
           mtimes_ns=np.asarray([entries[p][0][1] for p in paths], np.int64),
           **{name: np.stack([entries[p][1][name] for p in paths])
              for name in HANDMADE})
  os.replace(tmp, cache_path)


def cached_handmade_features(paths, cache_path):
  """handmade_features(paths), reusing those of `cache_path` whose file has
  the same path, size and modification time; computes the others and
  writes the cache back (only when something was computed: entries of
  files not asked for now are kept). Returns (features, {"path",
  "read_from_cache", "computed"}: clip counts)."""
  paths = list(dict.fromkeys(paths))
  cached = _read_handmade_cache(cache_path)
  keys = {p: _file_key(p) for p in paths}
  hits = {p: cached[p][1] for p in paths
          if p in cached and cached[p][0] == keys[p]}
  missing = [p for p in paths if p not in hits]
  computed = handmade_features(missing)
  features = {name: {p: (hits[p][name] if p in hits else computed[name][p])
                     for p in paths} for name in HANDMADE}
  if missing:
    for p in missing:
      cached[p] = (keys[p], {name: computed[name][p] for name in HANDMADE})
    _write_handmade_cache(cache_path, cached)
  return features, {"path": cache_path, "read_from_cache": len(hits),
                    "computed": len(missing)}


def run_tool(args, log_path):
  """Runs `python -m ARGS...`; returns its CPU seconds; raises on failure."""
  before = resource.getrusage(resource.RUSAGE_CHILDREN)
  with open(log_path, "a") as log:
    log.write(f"$ python -m {shlex.join(args)}\n")
    log.flush()
    done = subprocess.run([sys.executable, "-m", *args], cwd=ROOT,
                          stdout=log, stderr=subprocess.STDOUT, check=False)
  after = resource.getrusage(resource.RUSAGE_CHILDREN)
  if done.returncode:
    raise BenchmarkError(f"python -m {shlex.join(args)} failed (exit "
                         f"{done.returncode}); its output is in {log_path}")
  return (after.ru_utime - before.ru_utime) + (after.ru_stime -
                                               before.ru_stime)


def embed(model, tasks_dir, output, log_path):
  """{path: clip embedding} of every task clip, through common.embed."""
  import numpy as np
  run_tool(["common.embed", f"--model={model}", f"--input={tasks_dir}",
            f"--output={output}"], log_path)
  arrays = np.load(output)
  return dict(zip((str(p) for p in arrays["paths"]),
                  arrays["clip_embeddings"]))


def pretrain(label, method, args, pool, workdir, log_path, steps=None):
  """Pre-trains through the method's CLI; returns what the run recorded."""
  # The run's own arguments first: a --config=FILE must precede overrides.
  cmd = [f"{method}.train", f"--data=files:{pool}", f"--workdir={workdir}",
         *args, "--config.keep_checkpoints=1000"]
  if steps is not None:
    cmd.append(f"--config.total_steps={steps}")
  print(f"[{label}] python -m {shlex.join(cmd)}", flush=True)
  cpu = run_tool(cmd, log_path)
  with open(os.path.join(workdir, "train_summary.json")) as f:
    summary = json.load(f)
  return {"command": "python -m " + shlex.join(cmd),
          "cpu_seconds": round(cpu, 1), "steps": summary["steps"],
          "progress": summary.get("progress", []),
          "final_metrics": summary.get("final_metrics", {})}


def mean(scores):
  return sum(scores.values()) / len(scores)


def mean_sd(values):
  """(mean, sample standard deviation) of `values`; sd 0.0 for one value."""
  values = list(values)
  m = sum(values) / len(values)
  if len(values) < 2:
    return m, 0.0
  return m, math.sqrt(sum((v - m)**2 for v in values) / (len(values) - 1))


def paired_difference(a_means, b_means):
  """(mean, sample sd, n) of the differences a - b, paired by seed.

  `a_means` and `b_means` are the task means of two representations, one
  per seed: sequences paired by index, or {seed: value} dicts paired by
  seed (both must hold the same seeds). sd is 0.0 when n is 1.
  """
  if isinstance(a_means, dict) or isinstance(b_means, dict):
    if not (isinstance(a_means, dict) and isinstance(b_means, dict)) or set(
        a_means) != set(b_means):
      raise ValueError("paired_difference: both sides need the same seeds")
    seeds = sorted(a_means)
    a_means = [a_means[s] for s in seeds]
    b_means = [b_means[s] for s in seeds]
  a_means, b_means = list(a_means), list(b_means)
  if not a_means or len(a_means) != len(b_means):
    raise ValueError(f"paired_difference: {len(a_means)} against "
                     f"{len(b_means)} values; need as many, at least one")
  m, sd = mean_sd(a - b for a, b in zip(a_means, b_means))
  return m, sd, len(a_means)


def evaluate_seed(name, method, args, seed, options, tasks, log_path,
                  curve_every):
  """Pre-trains seed `seed` of one run, probes every `curve_every`-th of
  its checkpoints (0: none), its final model and its random init.
  Returns ({representation: {task: accuracy}}, the run's info)."""
  # Appended: after the run's own --config=FILE and overrides.
  args = [*args, f"--config.seed={seed}"]
  label = f"{name} seed {seed}"
  workdir = os.path.join(options.workdir, name, f"seed-{seed}")
  rows, curve = {}, []
  random_dir = workdir + "-random"
  if not options.no_random:
    # The same command for 0 steps: the same initial weights (seeded) and
    # data statistics as the run's, exported.
    pretrain(label + " random init", method, args, options.pool, random_dir,
             log_path, steps=0)
    features = embed(os.path.join(random_dir, "saved_model"),
                     options.tasks, random_dir + "-embeddings.npz", log_path)
    rows[f"{name}_random_init"] = probe_tasks(tasks, features)
  info = pretrain(label, method, args, options.pool, workdir, log_path,
                  options.steps)
  info["seed"] = seed
  checkpoints = os.path.join(workdir, "checkpoints")
  # progress: the start of training (the CPU the run spent reading its data
  # and building its model), then one point per checkpoint.
  start, epochs = info["progress"][0], info["progress"][1:]
  if not options.no_random:
    curve.append({"step": start["step"], "cpu_seconds": start["cpu_seconds"],
                  "mean": mean(rows[f"{name}_random_init"])})
  chosen = [p for i, p in enumerate(epochs[:-1], 1)
            if curve_every and i % curve_every == 0]
  for point in chosen:
    weights = os.path.join(checkpoints, f"ckpt-{point['step']:08d}.weights.h5")
    export = os.path.join(workdir, "exports", f"step-{point['step']}")
    run_tool(["common.export", f"--workdir={workdir}", f"--weights={weights}",
              f"--output={export}"], log_path)
    scores = probe_tasks(tasks, embed(export, options.tasks,
                                      export + "-embeddings.npz", log_path))
    curve.append({"step": point["step"], "cpu_seconds": point["cpu_seconds"],
                  "mean": mean(scores)})
    print(f"[{label}] step {point['step']}: mean {mean(scores):.4f}",
          flush=True)
  scores = probe_tasks(tasks, embed(os.path.join(workdir, "saved_model"),
                                    options.tasks,
                                    workdir + "-embeddings.npz", log_path))
  rows[name] = scores
  if options.tflite:
    rows.update(deployed_rows(name, label, workdir, options, tasks,
                              log_path))
  curve.append({"step": info["steps"], "cpu_seconds": info["cpu_seconds"],
                "mean": mean(scores)})
  print(f"[{label}] {info['steps']} steps, {info['cpu_seconds'] / 60:.1f} "
        f"CPU-min: mean {mean(scores):.4f}", flush=True)
  info["curve"] = curve
  return rows, info


def deployed_rows(name, label, workdir, options, tasks, log_path):
  """The run's final model as users deploy it: the float TFLite model and
  the full-integer one calibrated on the pool (common.export --tflite
  --tflite_int8), each embedding the tasks through common.embed."""
  export = os.path.join(workdir, "exports", "final")
  run_tool(["common.export", f"--workdir={workdir}", f"--output={export}",
            "--tflite", "--tflite_seconds=4", "--tflite_int8",
            f"--calibration=files:{options.pool}"], log_path)
  rows = {}
  for kind, path in (("tflite", export + ".tflite"),
                     ("int8", export + ".int8.tflite")):
    rows[f"{name}_{kind}"] = probe_tasks(tasks, embed(
        path, options.tasks, f"{export}-{kind}-embeddings.npz", log_path))
    print(f"[{label}] {kind}: mean {mean(rows[f'{name}_{kind}']):.4f}",
          flush=True)
  return rows


def time_to_quality(curve, level):
  """CPU minutes at which the curve first reaches `level` (linear between
  evaluated checkpoints), or None."""
  previous = None
  for point in curve:
    if point["mean"] >= level:
      if previous is None:
        return point["cpu_seconds"] / 60
      (x0, y0), (x1, y1) = previous, (point["cpu_seconds"], point["mean"])
      return (x0 + (level - y0) * (x1 - x0) / (y1 - y0)) / 60
    previous = (point["cpu_seconds"], point["mean"])
  return None


def aggregate(by_seed, tasks):
  """From {representation: {seed: {task: accuracy}}}: {representation:
  {"accuracy": {task: mean}, "accuracy_sd": {task: sd}, "mean_by_seed":
  {seed: task mean}, "mean": ..., "mean_sd": ...}} over seeds."""
  out = {}
  for rep, seeds in by_seed.items():
    order = sorted(seeds)
    per_task = {t: mean_sd(seeds[s][t] for s in order) for t in tasks}
    mean_by_seed = {s: mean(seeds[s]) for s in order}
    m, sd = mean_sd(mean_by_seed.values())
    out[rep] = {"accuracy": {t: v[0] for t, v in per_task.items()},
                "accuracy_sd": {t: v[1] for t, v in per_task.items()},
                "mean_by_seed": mean_by_seed, "mean": m, "mean_sd": sd}
  return out


def comparisons(run_names, no_random):
  """(a, b) pairs compared by paired differences: every pair of runs, then
  each run against its random init and against best_handmade."""
  pairs = list(itertools.combinations(run_names, 2))
  for name in run_names:
    if not no_random:
      pairs.append((name, f"{name}_random_init"))
    pairs.append((name, BEST_HANDMADE))
  return pairs


def paired_differences(pairs, mean_by_seed, fixed):
  """{"A - B": {"a", "b", "mean", "sd", "n", "by_seed"}} for `pairs`;
  `mean_by_seed` {representation: {seed: task mean}}, `fixed`
  {representation: task mean} for the deterministic (hand-made) rows."""
  out = {}
  for a, b in pairs:
    a_means = mean_by_seed[a]
    b_means = mean_by_seed.get(b) or {s: fixed[b] for s in a_means}
    m, sd, n = paired_difference(a_means, b_means)
    out[f"{a} - {b}"] = {
        "a": a, "b": b, "mean": m, "sd": sd, "n": n,
        "by_seed": {str(s): a_means[s] - b_means[s] for s in sorted(a_means)}}
  return out


def _cell(m, sd, spread):
  return f"{m:.3f} ± {sd:.3f}" if spread else f"{m:.3f}"


def markdown_table(rows, tasks, sds=None, mean_sds=None):
  """Tasks x representations, the best of each task (by mean) in bold, and
  the mean row. `sds` {representation: {task: sd}} and `mean_sds`
  {representation: sd of the task mean}: cells "mean ± sd" for the
  representations they hold (the seeded ones; leave them out for one
  seed)."""
  sds, mean_sds = sds or {}, mean_sds or {}
  names = list(rows)
  lines = ["| task | " + " | ".join(names) + " |",
           "|---|" + "---:|" * len(names)]
  for task in tasks:
    best = max(rows[n][task] for n in names)
    cells = []
    for n in names:
      cell = _cell(rows[n][task], sds.get(n, {}).get(task), n in sds)
      cells.append(f"**{cell}**" if rows[n][task] == best else cell)
    lines.append(f"| {task} | " + " | ".join(cells) + " |")
  means = [_cell(mean(rows[n]), mean_sds.get(n), n in mean_sds)
           for n in names]
  lines.append("| **mean** | " + " | ".join(f"**{m}**" for m in means) + " |")
  return "\n".join(lines)


def differences_table(differences):
  """The paired differences of the task mean as a markdown table."""
  def signed(x):
    return f"{x:+.3f}"

  spread = any(d["n"] > 1 for d in differences.values())
  lines = ["| paired difference of the task mean | "
           f"{'mean ± sd' if spread else 'difference'} | seeds | per seed |",
           "|---|---:|---:|---|"]
  for key, d in differences.items():
    cell = (f"{signed(d['mean'])} ± {d['sd']:.3f}" if d["n"] > 1 else
            signed(d["mean"]))
    per_seed = " / ".join(signed(v) for v in d["by_seed"].values())
    lines.append(f"| {key} | {cell} | {d['n']} | {per_seed} |")
  return "\n".join(lines)


def plot(runs, level, path):
  import matplotlib
  matplotlib.use("Agg")
  from matplotlib import pyplot as plt
  fig, ax = plt.subplots(figsize=(7, 4.5))
  for name, info in runs.items():
    points = info["curve"]
    ax.plot([p["cpu_seconds"] / 60 for p in points],
            [p["mean"] for p in points], marker="o",
            label=f"{name} (seed {info.get('seed', 0)})")
  ax.axhline(level, color="gray", linestyle="--",
             label=f"best hand-made per task ({level:.3f})")
  ax.set_xlabel("CPU minutes of pre-training (user + system, all cores)")
  ax.set_ylabel("mean dev accuracy (linear probe)")
  ax.set_title("Time to quality: pre-training on the pool")
  ax.grid(alpha=0.3)
  ax.legend(fontsize=8)
  fig.tight_layout()
  fig.savefig(path, dpi=100)
  plt.close(fig)


def parse_args(argv):
  parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
  parser.add_argument("--pool", default=None, help="Unlabelled audio to "
                      "pre-train on (default: ../shared/realaudio/pool).")
  parser.add_argument("--tasks", default=None, help="Labelled tasks, "
                      "TASK/{train,test}/LABEL/* (default: "
                      "../shared/realaudio/dev).")
  parser.add_argument("--run", action="append", default=None,
                      help="NAME=METHOD and the trainer's arguments, for "
                      "any METHOD with a `python -m METHOD.train` (repeat "
                      f"for several; default: {', '.join(DEFAULT_RUNS)}).")
  parser.add_argument("--steps", type=int, default=None, help="Steps of "
                      "every run (default: each config's total_steps).")
  parser.add_argument("--seeds", type=int, default=1, help="Train and "
                      "probe every run for seeds 0..N-1 (--config.seed=S "
                      "appended to its arguments); figures are means ± sd "
                      "over seeds, runs compared by paired differences.")
  parser.add_argument("--curve_every", type=int, default=1, help="Probe "
                      "every N-th checkpoint for the time-to-quality curve "
                      "(0: the final model only).")
  parser.add_argument("--curve_seeds", type=int, default=1, help="Probe "
                      "the checkpoints of the first N seeds only (the "
                      "others: their final model); default 1: seed 0.")
  parser.add_argument("--no_random", action="store_true", help="Skip the "
                      "random-initialisation rows.")
  parser.add_argument("--tflite", action="store_true", help="Also probe "
                      "each run's float and int8 TFLite models (the int8 "
                      "one calibrated on --pool).")
  parser.add_argument("--workdir", default=os.path.join(ROOT, "runs",
                                                        "quality"),
                      help="The runs' workdirs, their exports and "
                      "embeddings, tools.log and the hand-made features' "
                      f"cache ({HANDMADE_CACHE}).")
  parser.add_argument("--output", default=os.path.join(harness.RESULTS_DIR,
                                                       "quality"),
                      help="Folder for quality.json, .md and .png.")
  options = parser.parse_args(argv)
  if options.seeds < 1:
    parser.error(f"--seeds={options.seeds}: must be at least 1")
  if options.curve_seeds < 0:
    parser.error(f"--curve_seeds={options.curve_seeds}: must be 0 or more")
  for key, sub in (("pool", "pool"), ("tasks", "dev")):
    if getattr(options, key) is None:
      default = os.path.join(REALAUDIO, sub)
      if not os.path.isdir(default):
        parser.error(f"--{key} is required: {default} does not exist (give "
                     "your own unlabelled audio and labelled tasks)")
      setattr(options, key, default)
    if not os.path.isdir(getattr(options, key)):
      parser.error(f"--{key}={getattr(options, key)}: not a folder")
  options.pool = os.path.abspath(options.pool)
  options.tasks = os.path.abspath(options.tasks)
  options.workdir = os.path.abspath(options.workdir)
  options.run = options.run or list(DEFAULT_RUNS)
  return options


def main(argv=None):
  harness.quiet_tensorflow()
  options = parse_args(sys.argv[1:] if argv is None else argv)
  try:
    runs_spec = [parse_run(spec) for spec in options.run]
  except ValueError as e:
    raise BenchmarkError(str(e)) from None
  run_names = [name for name, _, _ in runs_spec]
  taken = {*HANDMADE, BEST_HANDMADE}
  for name in run_names:
    if name in taken or run_names.count(name) > 1:
      raise BenchmarkError(f"--run name {name!r} is used twice or names a "
                       "hand-made row: give each run its own NAME")
  result = harness.start("quality", argv)
  os.makedirs(options.workdir, exist_ok=True)
  os.makedirs(options.output, exist_ok=True)
  log_path = os.path.join(options.workdir, "tools.log")
  tasks = task_clips(options.tasks)
  paths = [p for splits in tasks.values() for clips in splits.values()
           for p, _ in clips]
  print(f"{len(tasks)} tasks, {len(paths)} clips; hand-made baselines",
        flush=True)
  features, cache = cached_handmade_features(
      paths, os.path.join(options.workdir, HANDMADE_CACHE))
  print(f"hand-made features: {cache['read_from_cache']} clips read from "
        f"{cache['path']}, {cache['computed']} computed", flush=True)
  handmade = {name: probe_tasks(tasks, features[name]) for name in HANDMADE}
  handmade[BEST_HANDMADE] = {t: max(handmade[n][t] for n in HANDMADE)
                             for t in tasks}
  level = mean(handmade[BEST_HANDMADE])
  by_seed, runs = {}, {}
  for name, method, args in runs_spec:
    infos = {}
    for seed in range(options.seeds):
      curve_every = options.curve_every if seed < options.curve_seeds else 0
      seed_rows, info = evaluate_seed(name, method, args, seed, options,
                                      tasks, log_path, curve_every)
      for rep, scores in seed_rows.items():
        by_seed.setdefault(rep, {})[seed] = scores
      info["time_to_best_handmade_cpu_minutes"] = time_to_quality(
          info["curve"], level)
      infos[str(seed)] = info
    # The run's own keys are seed 0's (its curve is the plot's).
    runs[name] = {**infos["0"], "by_seed": infos}
  stats = aggregate(by_seed, list(tasks))
  # Table order: the hand-made rows, then each run's rows as they came.
  rows = dict(handmade)
  rows.update({rep: s["accuracy"] for rep, s in stats.items()})
  spread = options.seeds > 1
  table = markdown_table(
      rows, list(tasks),
      sds={rep: s["accuracy_sd"] for rep, s in stats.items()} if spread
      else None,
      mean_sds={rep: s["mean_sd"] for rep, s in stats.items()} if spread
      else None)
  differences = paired_differences(
      comparisons(run_names, options.no_random),
      {rep: s["mean_by_seed"] for rep, s in stats.items()},
      {name: mean(handmade[name]) for name in handmade})
  seeds_text = (f"{options.seeds} seeds, mean ± sample sd" if spread else
                "1 seed")
  markdown = (f"{table}\n\nPaired differences of the mean over tasks, seed "
              f"S against seed S ({seeds_text}):\n\n"
              f"{differences_table(differences)}\n")
  result.update({
      "pool": options.pool, "tasks": options.tasks,
      "probe": "StandardScaler + LogisticRegression(C=1, lbfgs, "
               "max_iter=1000); accuracy on each task's test clips",
      "task_clips": {t: {s: len(c) for s, c in v.items()}
                     for t, v in tasks.items()},
      "seeds": options.seeds, "curve_seeds": options.curve_seeds,
      "accuracy": rows, "mean": {n: mean(r) for n, r in rows.items()},
      "accuracy_sd": {rep: s["accuracy_sd"] for rep, s in stats.items()},
      "mean_sd": {rep: s["mean_sd"] for rep, s in stats.items()},
      "accuracy_by_seed": {rep: {str(s): v for s, v in seeds.items()}
                           for rep, seeds in by_seed.items()},
      "mean_by_seed": {rep: {str(k): v for k, v in s["mean_by_seed"].items()}
                       for rep, s in stats.items()},
      "paired_differences": differences,
      "best_handmade_mean": level, "handmade_cache": cache, "runs": runs})
  with open(os.path.join(options.output, "quality.md"), "w") as f:
    f.write(markdown)
  plot(runs, level, os.path.join(options.output, "quality.png"))
  harness.finish(result, os.path.join(options.output, "quality.json"))
  print(markdown)
  return 0


if __name__ == "__main__":
  try:
    sys.exit(main())
  except BenchmarkError as e:
    print(f"error: {e}", file=sys.stderr)
    sys.exit(1)
