"""What pre-training on real audio is worth: linear probes on labelled tasks.

  python -m benchmarks.quality                     # ../shared/realaudio
  python -m benchmarks.quality --pool=my/unlabelled --tasks=my/tasks
  python -m benchmarks.quality --run="cola_mix=cola --config.mixing.enabled=True"

Each run pre-trains through its method's own command line (`python -m
cola.train --data=files:POOL ...`, its default config unless the run's
arguments say otherwise), and its CPU seconds (user + system, all threads
of the process and its children) and steps are recorded. Every task clip is
then embedded through the exported SavedModel exactly as a user gets it:
`python -m common.embed` on the raw files (serving_default's clip
embedding: the mean over the model's windows). The time-to-quality curve
embeds the SavedModel of every `--curve_every`-th checkpoint of the same
run (`python -m common.export --weights=...`), its CPU time read from the
run's train_summary.json (the process's CPU seconds when the checkpoint was
written, data loading included). Each run's config also gets a random-
initialisation row: the same command with `--config.total_steps=0` (the
data statistics the model stores are measured, nothing is trained).

The hand-made baselines are computed here from the same files, decoded
with common.io.audio_io, at their own level (no normalisation), with COLA's
log-mel (64 bands, 25 ms / 10 ms, log floor 1e-5):
  log-mel mean+std   the mean and std over frames of each band (128-d)
  MFCC+delta         20 MFCCs (tf.signal) and their frame deltas, mean and
                     std of each (80-d)
  random projection  each frame projected by a fixed Gaussian 64 x 512
                     matrix (seed 0); mean and std over frames (1024-d)
"best hand-made" is, for each task, the best of the three on that task.

The probe, the same for every representation: features standardised with
the training clips' mean and std, then scikit-learn's LogisticRegression
(L2, C=1, lbfgs, up to 1,000 iterations); the figure is the accuracy on
the task's test clips. Tasks are folders `TASK/{train,test}/LABEL/*`
(common.evaluate's files:DIR layout, split in advance); the test clips
are never trained on.

Writes OUTPUT/quality.json, OUTPUT/quality.md (tasks x representations and
the mean) and OUTPUT/quality.png (mean accuracy against CPU minutes of
pre-training, for every run's checkpoints). Run workdirs go to --workdir.
"""

import argparse
import json
import os
import resource
import shlex
import subprocess
import sys
import time

if __package__ in (None, ""):
  sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(
      __file__))))

from benchmarks import harness  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
REALAUDIO = os.path.join(os.path.dirname(ROOT), "shared", "realaudio")
DEFAULT_RUNS = ("cola=cola", "multimodal=multimodal")
HANDMADE = ("logmel_mean_std", "mfcc_delta", "random_projection")
BEST_HANDMADE = "best_handmade"
SMOKE_ARGS = ()  # The test builds its own tiny pool and tasks.


class BenchmarkError(RuntimeError):
  """A run or a tool it calls failed; the message says which and why."""


def parse_run(spec):
  """"NAME=METHOD [ARGS...]" -> (name, method, [args])."""
  head, _, rest = spec.partition(" ")
  name, _, method = head.partition("=")
  if not name or method not in ("cola", "multimodal"):
    raise ValueError(f"--run={spec!r}: expected NAME=cola or "
                     "NAME=multimodal, then the trainer's arguments")
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


def pretrain(name, method, args, pool, workdir, log_path, steps=None):
  """Pre-trains through the method's CLI; returns what the run recorded."""
  # The run's own arguments first: a --config=FILE must precede overrides.
  cmd = [f"{method}.train", f"--data=files:{pool}", f"--workdir={workdir}",
         *args, "--config.keep_checkpoints=1000"]
  if steps is not None:
    cmd.append(f"--config.total_steps={steps}")
  print(f"[{name}] python -m {shlex.join(cmd)}", flush=True)
  cpu = run_tool(cmd, log_path)
  with open(os.path.join(workdir, "train_summary.json")) as f:
    summary = json.load(f)
  return {"command": "python -m " + shlex.join(cmd),
          "cpu_seconds": round(cpu, 1), "steps": summary["steps"],
          "progress": summary.get("progress", []),
          "final_metrics": summary.get("final_metrics", {})}


def mean(scores):
  return sum(scores.values()) / len(scores)


def evaluate_run(name, method, args, options, tasks, log_path):
  """Pre-trains one run, probes its checkpoints and its random init."""
  workdir = os.path.join(options.workdir, name)
  rows, curve = {}, []
  random_dir = workdir + "-random"
  if not options.no_random:
    # The same command for 0 steps: the same initial weights (seeded) and
    # data statistics as the run's, exported.
    pretrain(name + "_random", method, args, options.pool, random_dir,
             log_path, steps=0)
    features = embed(os.path.join(random_dir, "saved_model"),
                     options.tasks, random_dir + "-embeddings.npz", log_path)
    rows[f"{name}_random_init"] = probe_tasks(tasks, features)
  info = pretrain(name, method, args, options.pool, workdir, log_path,
                  options.steps)
  checkpoints = os.path.join(workdir, "checkpoints")
  # progress: the start of training (the CPU the run spent reading its data
  # and building its model), then one point per checkpoint.
  start, epochs = info["progress"][0], info["progress"][1:]
  if not options.no_random:
    curve.append({"step": start["step"], "cpu_seconds": start["cpu_seconds"],
                  "mean": mean(rows[f"{name}_random_init"])})
  chosen = [p for i, p in enumerate(epochs[:-1], 1)
            if options.curve_every and i % options.curve_every == 0]
  for point in chosen:
    weights = os.path.join(checkpoints, f"ckpt-{point['step']:08d}.weights.h5")
    export = os.path.join(workdir, "exports", f"step-{point['step']}")
    run_tool(["common.export", f"--workdir={workdir}", f"--weights={weights}",
              f"--output={export}"], log_path)
    scores = probe_tasks(tasks, embed(export, options.tasks,
                                      export + "-embeddings.npz", log_path))
    curve.append({"step": point["step"], "cpu_seconds": point["cpu_seconds"],
                  "mean": mean(scores)})
    print(f"[{name}] step {point['step']}: mean {mean(scores):.4f}",
          flush=True)
  scores = probe_tasks(tasks, embed(os.path.join(workdir, "saved_model"),
                                    options.tasks,
                                    workdir + "-embeddings.npz", log_path))
  rows[name] = scores
  if options.tflite:
    rows.update(deployed_rows(name, workdir, options, tasks, log_path))
  curve.append({"step": info["steps"], "cpu_seconds": info["cpu_seconds"],
                "mean": mean(scores)})
  print(f"[{name}] {info['steps']} steps, {info['cpu_seconds'] / 60:.1f} "
        f"CPU-min: mean {mean(scores):.4f}", flush=True)
  info["curve"] = curve
  return rows, info


def deployed_rows(name, workdir, options, tasks, log_path):
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
    print(f"[{name}] {kind}: mean {mean(rows[f'{name}_{kind}']):.4f}",
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


def markdown_table(rows, tasks):
  names = list(rows)
  lines = ["| task | " + " | ".join(names) + " |",
           "|---|" + "---:|" * len(names)]
  for task in tasks:
    best = max(rows[n][task] for n in names)
    cells = [f"**{rows[n][task]:.3f}**" if rows[n][task] == best else
             f"{rows[n][task]:.3f}" for n in names]
    lines.append(f"| {task} | " + " | ".join(cells) + " |")
  means = [mean(rows[n]) for n in names]
  lines.append("| **mean** | " + " | ".join(
      f"**{m:.3f}**" for m in means) + " |")
  return "\n".join(lines)


def plot(runs, level, path):
  import matplotlib
  matplotlib.use("Agg")
  from matplotlib import pyplot as plt
  fig, ax = plt.subplots(figsize=(7, 4.5))
  for name, info in runs.items():
    points = info["curve"]
    ax.plot([p["cpu_seconds"] / 60 for p in points],
            [p["mean"] for p in points], marker="o", label=name)
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
                      help="NAME=METHOD and the trainer's arguments (repeat "
                      f"for several; default: {', '.join(DEFAULT_RUNS)}).")
  parser.add_argument("--steps", type=int, default=None, help="Steps of "
                      "every run (default: each config's total_steps).")
  parser.add_argument("--curve_every", type=int, default=1, help="Probe "
                      "every N-th checkpoint for the time-to-quality curve "
                      "(0: the final model only).")
  parser.add_argument("--no_random", action="store_true", help="Skip the "
                      "random-initialisation rows.")
  parser.add_argument("--tflite", action="store_true", help="Also probe "
                      "each run's float and int8 TFLite models (the int8 "
                      "one calibrated on --pool).")
  parser.add_argument("--workdir", default=os.path.join(ROOT, "runs",
                                                        "quality"))
  parser.add_argument("--output", default=os.path.join(harness.RESULTS_DIR,
                                                       "quality"),
                      help="Folder for quality.json, .md and .png.")
  options = parser.parse_args(argv)
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
  runs_spec = [parse_run(spec) for spec in options.run]
  result = harness.start("quality", argv)
  os.makedirs(options.workdir, exist_ok=True)
  os.makedirs(options.output, exist_ok=True)
  log_path = os.path.join(options.workdir, "tools.log")
  tasks = task_clips(options.tasks)
  paths = [p for splits in tasks.values() for clips in splits.values()
           for p, _ in clips]
  print(f"{len(tasks)} tasks, {len(paths)} clips; hand-made baselines",
        flush=True)
  features = handmade_features(paths)
  rows = {name: probe_tasks(tasks, features[name]) for name in HANDMADE}
  rows[BEST_HANDMADE] = {t: max(rows[n][t] for n in HANDMADE) for t in tasks}
  level = mean(rows[BEST_HANDMADE])
  runs = {}
  for name, method, args in runs_spec:
    run_rows, info = evaluate_run(name, method, args, options, tasks,
                                  log_path)
    rows.update(run_rows)
    info["time_to_best_handmade_cpu_minutes"] = time_to_quality(
        info["curve"], level)
    runs[name] = info
  table = markdown_table(rows, list(tasks))
  result.update({
      "pool": options.pool, "tasks": options.tasks,
      "probe": "StandardScaler + LogisticRegression(C=1, lbfgs, "
               "max_iter=1000); accuracy on each task's test clips",
      "task_clips": {t: {s: len(c) for s, c in v.items()}
                     for t, v in tasks.items()},
      "accuracy": rows, "mean": {n: mean(r) for n, r in rows.items()},
      "best_handmade_mean": level, "runs": runs})
  with open(os.path.join(options.output, "quality.md"), "w") as f:
    f.write(table + "\n")
  plot(runs, level, os.path.join(options.output, "quality.png"))
  harness.finish(result, os.path.join(options.output, "quality.json"))
  print(table)
  return 0


if __name__ == "__main__":
  try:
    sys.exit(main())
  except BenchmarkError as e:
    print(f"error: {e}", file=sys.stderr)
    sys.exit(1)
