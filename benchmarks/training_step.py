"""COLA training step throughput (EfficientNet-B0, 1 s crops) fed from raw
waveforms, against the same model and loss fed by the authors' per-example
log-mel pipeline; with and without XLA; achieved GFLOP/s of the step against
this machine's dense matmul GFLOP/s, measured in the same process.

  python -m benchmarks.training_step           # -> results/training_step.json

Each configuration (batch, XLA on/off) runs in its own child process (peak
memory per configuration, no XLA or allocator state shared), which builds
both models and alternates `fit` calls between them: each call's first step
(tracing, XLA compilation, pipeline start) is not timed, the next `--steps`
are. Examples are anchor/positive pairs: one step of batch B puts 2B crops
through the encoder, forward and backward.

  project   cola.model.Cola: the tf.data pipeline crops waveforms and the
            model computes the batch's log-mel (common/models/frontend.py)
            and adds the positives' noise, batched
  authors   the same encoder, head, bilinear similarity and loss, fed log-mels
            computed per example in tf.data.map, with the noise added per
            example before them (benchmarks/input_pipeline.py)

FLOPs are counted by tf.compat.v1.profiler on the graph of one step (forward,
loss and gradients) of the project model; ops without registered FLOP
statistics (FFT, some gradient kernels) count zero, so the count, and the
GFLOP/s derived from it, are lower bounds.
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

if __package__ in (None, ""):
  sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(
      __file__))))

from benchmarks import harness  # noqa: E402
from common.train import method as method_lib

NAME = "training_step"


def _child(args):
  """One configuration, in this process: writes a JSON row to args.row."""
  harness.quiet_tensorflow()
  import keras
  import tensorflow as tf
  from benchmarks import input_pipeline
  from cola import model as cola_model
  from cola.configs import paper

  batch, xla = args.batch, bool(args.xla)
  row = {"batch": batch, "xla": xla, "encoder": args.encoder,
         "load_average_before": harness.load_average()}
  row["matmul"] = harness.matmul_gflops()
  config = paper.get_config()
  config.jit_compile = xla
  config.encoder = args.encoder
  if args.encoder == "tiny":
    config.encoder_kwargs = dict(width=4, depth=2, embedding_dim=16)
  bank = input_pipeline.clip_bank(args.clips, args.seconds)

  class ColaOnLogMel(cola_model.Cola):
    """Cola whose input is already a log-mel batch (the authors' style)."""

    def call(self, log_mel, training=False):
      return self.encoder(log_mel, training=training)

    def level(self, log_mel):
      return log_mel  # Its pipeline normalised the clip.

    def encode_levelled(self, log_mel, training=False, seed=None):
      return self.encoder(log_mel, training=training)

    def add_noise(self, positives, seed=None):
      return positives  # Its pipeline added the noise to the waveform.

    def initialize(self):
      frames = self.encoder.input_shape[1]
      z = self.project(self(tf.zeros([2, frames, config.frontend.mel_bands,
                                      1])))
      self.similarity(z, z)

  class Method:  # trainer.build_initialized_model's plug-in interface.
    def __init__(self, cls):
      self.build_model = cls

  keras.utils.set_random_seed(0)
  models = {"project": method_lib.build_initialized_model(
                Method(cola_model.Cola), config),
            "authors": method_lib.build_initialized_model(
                Method(ColaOnLogMel), config)}
  datasets = {
      "project": input_pipeline.project_dataset(bank, config, batch),
      "authors": input_pipeline.authors_dataset(bank, config, batch)}

  runs = {name: {"step_seconds": [], "cpu_seconds": [], "first_step": []}
          for name in models}
  for r in range(args.repeats):
    order = list(models) if r % 2 == 0 else list(models)[::-1]
    for name in order:
      stamps = harness.step_timer()
      t0 = time.perf_counter()
      cpu_after_first = {}

      class CpuMark(keras.callbacks.Callback):
        def on_train_batch_end(self, step, logs=None):
          if step == 0:
            cpu_after_first["cpu"] = harness.cpu_seconds()

      models[name].fit(datasets[name], epochs=1,
                       steps_per_epoch=1 + args.steps, verbose=0,
                       callbacks=[stamps, CpuMark()])
      cpu_end = harness.cpu_seconds()
      timed = stamps.times[-1] - stamps.times[0]
      runs[name]["step_seconds"].append(timed / args.steps)
      runs[name]["cpu_seconds"].append(
          (cpu_end - cpu_after_first["cpu"]) / args.steps)
      runs[name]["first_step"].append(stamps.times[0] - t0)
  for name, r in runs.items():
    step = harness.median(r["step_seconds"])
    row[name] = {
        "step_seconds": harness.rounded(step),
        "examples_per_second": harness.rounded(batch / step),
        "cpu_cores_used": harness.rounded(
            harness.median(r["cpu_seconds"]) / step, 3),
        "step_seconds_all": [harness.rounded(x) for x in r["step_seconds"]],
        "first_step_seconds": [harness.rounded(x) for x in r["first_step"]]}
  row["speedup"] = harness.rounded(
      row["authors"]["step_seconds"] / row["project"]["step_seconds"], 3)

  if args.flops:
    model = models["project"]
    spec = tf.TensorSpec([batch, model.crop_samples], tf.float32)

    def step(anchors, positives):
      with tf.GradientTape() as tape:
        loss, _ = model.loss_step((anchors, positives), True)
      return loss, tape.gradient(loss, model.trainable_variables)

    graph = tf.function(step).get_concrete_function(spec, spec).graph
    options = tf.compat.v1.profiler.ProfileOptionBuilder.float_operation()
    options["output"] = "none"
    flops = tf.compat.v1.profiler.profile(graph=graph,
                                          options=options).total_float_ops
    row["step_gflop"] = harness.rounded(flops / 1e9)
    row["achieved_gflops"] = harness.rounded(
        flops / 1e9 / row["project"]["step_seconds"])
    row["fraction_of_matmul"] = harness.rounded(
        row["achieved_gflops"] / row["matmul"]["gflops_median"], 3)
  row["load_average_after"] = harness.load_average()
  row["peak_rss_mb"] = harness.peak_rss_mb()
  with open(args.row, "w") as f:
    json.dump(row, f, indent=2)


def parse_configs(text):
  """'16:0,64:0,256:0,64:1' -> [(16, False), ...] (batch:xla)."""
  out = []
  for item in text.split(","):
    batch, _, xla = item.partition(":")
    out.append((int(batch), xla in ("1", "true", "xla")))
  return out


def run(args, argv=None):
  result = harness.start(NAME, argv)
  rows = []
  with tempfile.TemporaryDirectory() as tmp:
    for i, (batch, xla) in enumerate(parse_configs(args.configs)):
      row_path = os.path.join(tmp, f"row{i}.json")
      steps = args.xla_steps if xla else (
          args.large_steps if batch > 64 else args.steps)
      repeats = args.xla_repeats if xla else (
          args.large_repeats if batch > 64 else args.repeats)
      cmd = [sys.executable, "-m", "benchmarks.training_step", "--child",
             f"--batch={batch}", f"--xla={int(xla)}", f"--steps={steps}",
             f"--repeats={repeats}", f"--row={row_path}",
             f"--encoder={args.encoder}", f"--clips={args.clips}",
             f"--seconds={args.seconds}", f"--flops={int(not xla)}"]
      print(f"training_step: batch {batch}, xla {xla}", flush=True)
      start = time.perf_counter()
      done = subprocess.run(cmd, cwd=os.path.dirname(os.path.dirname(
          os.path.abspath(__file__))))
      if done.returncode != 0 or not os.path.exists(row_path):
        rows.append({"batch": batch, "xla": xla,
                     "error": f"child exited {done.returncode}"})
        continue
      with open(row_path) as f:
        row = json.load(f)
      row["config_seconds"] = round(time.perf_counter() - start, 1)
      rows.append(row)
  # XLA rows reuse the FLOP count of the same batch without XLA.
  flops = {r["batch"]: r["step_gflop"] for r in rows if "step_gflop" in r}
  for r in rows:
    if "error" not in r and "step_gflop" not in r and r["batch"] in flops:
      r["step_gflop"] = flops[r["batch"]]
      r["achieved_gflops"] = harness.rounded(
          flops[r["batch"]] / r["project"]["step_seconds"])
      r["fraction_of_matmul"] = harness.rounded(
          r["achieved_gflops"] / r["matmul"]["gflops_median"], 3)
  result["rows"] = rows
  result["target_speedup"] = 1.2
  good = [r for r in rows if "error" not in r]
  result["target_met"] = bool(good) and all(
      r["speedup"] >= 1.2 for r in good)
  result["peak_rss_mb_children"] = max(
      [r.get("peak_rss_mb", 0) for r in good] or [0])
  result["settings"] = {"configs": args.configs, "encoder": args.encoder,
                        "crop_seconds": 1.0, "clip_seconds": args.seconds,
                        "steps": args.steps, "repeats": args.repeats,
                        "large_steps": args.large_steps,
                        "large_repeats": args.large_repeats,
                        "xla_steps": args.xla_steps,
                        "xla_repeats": args.xla_repeats}
  return harness.finish(result, args.output)


def parse(argv):
  parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
  parser.add_argument("--configs", default="16:0,64:0,256:0,64:1",
                      help="batch:xla list")
  parser.add_argument("--encoder", default="efficientnet_b0")
  parser.add_argument("--steps", type=int, default=3)
  parser.add_argument("--repeats", type=int, default=2)
  parser.add_argument("--large_steps", type=int, default=2,
                      help="timed steps per fit call for batches over 64")
  parser.add_argument("--large_repeats", type=int, default=1)
  parser.add_argument("--xla_steps", type=int, default=1)
  parser.add_argument("--xla_repeats", type=int, default=1)
  parser.add_argument("--clips", type=int, default=256)
  parser.add_argument("--seconds", type=float, default=10.0)
  parser.add_argument("--output",
                      default=harness.default_output("training_step"))
  # Child mode.
  parser.add_argument("--child", action="store_true")
  parser.add_argument("--batch", type=int, default=64)
  parser.add_argument("--xla", type=int, default=0)
  parser.add_argument("--flops", type=int, default=1)
  parser.add_argument("--row")
  return parser.parse_args(argv)


SMOKE_ARGS = ["--configs=4:0", "--encoder=tiny", "--steps=1",
              "--repeats=1", "--large_steps=1", "--clips=8", "--seconds=2"]


def main(argv=None):
  argv = sys.argv[1:] if argv is None else argv
  args = parse(argv)
  if args.child:
    return _child(args)
  return run(args, argv)


if __name__ == "__main__":
  main()
