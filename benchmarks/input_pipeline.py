"""Input pipeline throughput, no model: COLA's pipeline (crop on host, log-mel
in the model) against the authors' style (log-mel per example in
tf.data.map), in examples (anchor + positive pairs) per CPU-second.

  python -m benchmarks.input_pipeline          # -> results/input_pipeline.json

Both pipelines read the same in-memory clips (10 s each by default, like
AudioSet), cut two random 1 s crops, batch and prefetch. The authors'
style also L2-normalises each clip first (the project's model levels each
window instead, common/models/frontend.py), adds the positive's noise and computes
both crops' log-mels inside the same map; the project does both in the
model, batched on the device (cola/model.py), so they are not host work.
The training-step benchmark includes them on both sides. Shuffling is off in both (it costs the
same on both sides). "Per core" divides examples by the process's CPU time
(all threads), so the figure does not depend on how many cores the pipeline
got; wall-clock rates are reported too. Repetitions alternate between the
two, each a fresh iterator whose first batches are not timed.
Growth: the project pipeline at clip lengths 2, 10, 60 s and batch 16, 64,
256.
"""

import argparse
import os
import sys

if __package__ in (None, ""):
  sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(
      __file__))))

from benchmarks import harness  # noqa: E402

harness.quiet_tensorflow()

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

from benchmarks import frontend_throughput  # noqa: E402
from cola.configs import paper  # noqa: E402
from cola import data as cola_data  # noqa: E402
from common.data import data_sources  # noqa: E402
from common.data import waveform_ops  # noqa: E402
from common.models import frontend as frontend_lib  # noqa: E402

NAME = "input_pipeline"


def clip_bank(count, seconds):
  clips = harness.test_clips(count, seconds)
  return data_sources.ClipBank(list(clips), np.zeros([count], np.int64),
                               [str(i) for i in range(count)], ["x"])


def project_dataset(bank, config, batch):
  return cola_data.pair_dataset(bank, config, batch, shuffle=False)


def authors_dataset(bank, config, batch):
  """The authors' style: the log-mel of each crop computed in the map."""
  crop = int(config.crop_seconds * config.sample_rate)
  matrix = frontend_throughput.mel_matrix()

  def pair(x):
    audio = waveform_ops.l2_normalize(x["audio"])
    anchor = waveform_ops.random_crop(audio, crop)
    positive = waveform_ops.add_noise(waveform_ops.random_crop(audio, crop),
                                      config.noise_stddev)
    return (frontend_throughput.per_example_log_mel(anchor, matrix),
            frontend_throughput.per_example_log_mel(positive, matrix))

  ds = bank.dataset().repeat().map(pair, num_parallel_calls=tf.data.AUTOTUNE)
  return ds.batch(batch, drop_remainder=True).prefetch(tf.data.AUTOTUNE)


def consume(ds, warmup, batches):
  """(prepare, run): prepare opens a fresh iterator and pulls `warmup`
  batches (untimed); run pulls the `batches` that are timed."""
  state = {}

  def prepare():
    state["it"] = iter(ds)
    for _ in range(warmup):
      next(state["it"])

  def run():
    it = state.pop("it")
    for _ in range(batches):
      batch = next(it)
    batch[0].numpy()

  return prepare, run


def time_pipelines(datasets, batch, warmup, batches, repeats):
  """Interleaved repetitions; each repetition's iterator is made (and warmed
  up) before its timed part, outside the timing."""
  runs = {name: {"wall": [], "cpu": []} for name in datasets}
  fns = {name: consume(ds, warmup, batches) for name, ds in datasets.items()}
  names = list(datasets)
  for r in range(repeats):
    shift = r % len(names)
    for name in names[shift:] + names[:shift]:
      prepare, run = fns[name]
      prepare()
      wall, cpu = harness.measure(run)
      runs[name]["wall"].append(wall)
      runs[name]["cpu"].append(cpu)
  examples = batch * batches
  out = {}
  for name, r in runs.items():
    wall, cpu = harness.median(r["wall"]), harness.median(r["cpu"])
    out[name] = {"examples_per_second": harness.rounded(examples / wall),
                 "examples_per_cpu_second": harness.rounded(examples / cpu),
                 "cpu_cores_used": harness.rounded(cpu / wall, 3),
                 "wall_seconds": [harness.rounded(x) for x in r["wall"]]}
  return out


def run(args, argv=None):
  result = harness.start(NAME, argv)
  config = paper.get_config()
  bank = clip_bank(args.clips, args.seconds)
  datasets = {"project": project_dataset(bank, config, args.batch),
              "authors": authors_dataset(bank, config, args.batch)}
  table = time_pipelines(datasets, args.batch, args.warmup, args.batches,
                         args.repeats)
  result["candidates"] = table
  result["speedup_per_core"] = harness.rounded(
      table["project"]["examples_per_cpu_second"] /
      table["authors"]["examples_per_cpu_second"], 3)
  result["speedup_wall"] = harness.rounded(
      table["project"]["examples_per_second"] /
      table["authors"]["examples_per_second"], 3)
  result["target_speedup_per_core"] = 5.0
  result["target_met"] = result["speedup_per_core"] >= 5.0

  # The baseline's per-example feature is the model's log-mel (harness
  # check; the model's level step comes before it, the authors' clip
  # normalisation before the crop).
  crop = tf.constant(harness.test_clips(2, 1.0))
  layer = frontend_lib.from_config(config.frontend).log_mel
  result["authors_vs_layer_max_abs_diff"] = harness.rounded(float(np.max(
      np.abs(layer(crop)[0].numpy() - frontend_throughput.per_example_log_mel(
          crop[0], frontend_throughput.mel_matrix()).numpy()))), 3)

  growth = {"length": [], "batch": []}
  for kind, points in (("length", [(args.batch, s)
                                   for s in args.growth_seconds]),
                       ("batch", [(b, args.seconds)
                                  for b in args.growth_batches])):
    for batch, seconds in points:
      grown = bank if seconds == args.seconds else clip_bank(
          args.growth_clips, seconds)
      row = time_pipelines(
          {"project": project_dataset(grown, config, batch)}, batch,
          args.warmup, max(1, args.batches * args.batch // batch),
          max(1, args.repeats // 2))["project"]
      growth[kind].append({"batch": batch, "clip_seconds": seconds,
                           **{k: row[k] for k in (
                               "examples_per_second",
                               "examples_per_cpu_second")}})
  result["growth"] = growth
  result["settings"] = {"clips": args.clips, "clip_seconds": args.seconds,
                        "batch": args.batch, "timed_batches": args.batches,
                        "repeats": args.repeats, "crop_seconds": 1.0}
  return harness.finish(result, args.output)


def parse(argv):
  parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
  parser.add_argument("--clips", type=int, default=256)
  parser.add_argument("--seconds", type=float, default=10.0)
  parser.add_argument("--batch", type=int, default=64)
  parser.add_argument("--batches", type=int, default=20)
  parser.add_argument("--warmup", type=int, default=3)
  parser.add_argument("--repeats", type=int, default=4)
  parser.add_argument("--growth_seconds", type=float, nargs="+",
                      default=[2.0, 10.0, 60.0])
  parser.add_argument("--growth_batches", type=int, nargs="+",
                      default=[16, 64, 256])
  parser.add_argument("--growth_clips", type=int, default=64)
  parser.add_argument("--output",
                      default=harness.default_output("input_pipeline"))
  return parser.parse_args(argv)


SMOKE_ARGS = ["--clips=8", "--seconds=2", "--batch=4", "--batches=2",
              "--warmup=1", "--repeats=2", "--growth_seconds", "1", "2", "3",
              "--growth_batches", "2", "4", "8", "--growth_clips=8"]


def main(argv=None):
  argv = sys.argv[1:] if argv is None else argv
  return run(parse(argv), argv)


if __name__ == "__main__":
  main()
