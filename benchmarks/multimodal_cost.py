"""Multimodal training step cost against video resolution and batch size,
each relative to the audio-only step in the same run; writes the plot.

  python -m benchmarks.multimodal_cost         # -> results/multimodal_cost.json
                                               #    results/multimodal_cost.png

The model is multimodal.model.Multimodal with a config's encoders (default:
multimodal/configs/default.py, the CPU default); "audio-only" is the same
model with the video pairs switched off (pair_weights wave_video = mel_video
= 0: waveform <-> log-mel only, no video encoder). The audio-visual models
differ only in `resolution` (frames per crop fixed by fps x crop_seconds).
Steps are fed one fixed in-memory batch (tf.data from_tensors().repeat()),
so the figure is the step itself: encoders, heads, NCE losses, gradients and
Adam; the input pipeline is input_pipeline.py's business. All models are
built first and their `fit` calls alternate; each call's first step is not
timed.
"""

import argparse
import ast
import os
import sys

if __package__ in (None, ""):
  sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(
      __file__))))

from benchmarks import harness  # noqa: E402
from common.train import method as method_lib

harness.quiet_tensorflow()

import importlib  # noqa: E402

import keras  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

NAME = "multimodal_cost"
# Target: the audio-visual step at `--target_resolution` (32 px) costs at
# most this many audio-only steps (issue 13; it was 1.5 before).
MAX_RELATIVE_COST = 1.3


def fit_step_seconds(model, dataset, steps):
  """Seconds per step over `steps` steps after an untimed first one."""
  stamps = harness.step_timer()
  model.fit(dataset, epochs=1, steps_per_epoch=1 + steps, verbose=0,
            callbacks=[stamps])
  return (stamps.times[-1] - stamps.times[0]) / steps


def load_config(spec, overrides=()):
  """'multimodal/configs/default.py' or a module name -> ConfigDict, with
  `overrides` ("video_encoder_kwargs.width=8", values as Python literals)
  applied, as --config.KEY=VALUE does for the trainer."""
  name = spec[:-3].replace("/", ".") if spec.endswith(".py") else spec
  config = importlib.import_module(name).get_config()
  for item in overrides:
    key, _, text = item.partition("=")
    try:
      value = ast.literal_eval(text)
    except (ValueError, SyntaxError):
      value = text
    *parents, leaf = key.split(".")
    node = config
    for parent in parents:
      node = node[parent]
    node[leaf] = value
  return config


def fixed_batch(model, batch, seed=0):
  rng = np.random.default_rng(seed)
  data = {"audio": (0.1 * rng.standard_normal(
              [batch, model.crop_samples])).astype(np.float32),
          "has_video": np.ones([batch], np.float32)}
  if model.video_encoder is not None:
    size = model.config.resolution
    data["frames"] = rng.integers(
        0, 256, [batch, model.crop_frames, size, size, 3], np.uint8)
  else:
    data["frames"] = np.zeros([batch, model.crop_frames, 1, 1, 3], np.uint8)
  return tf.data.Dataset.from_tensors(data).repeat()


def build(config_spec, resolution=None, audio_only=False, overrides=()):
  from multimodal import method
  config = load_config(config_spec, overrides)
  config.mixing.enabled = False  # Mixing runs in tf.data, not in the step.
  if audio_only:
    for pair in list(config.pair_weights):
      if "video" in pair:
        config.pair_weights[pair] = 0.0
  if resolution is not None:
    config.resolution = resolution
  keras.utils.set_random_seed(0)
  return method_lib.build_initialized_model(method, config)


def time_models(models, batch, steps, repeats):
  data = {name: fixed_batch(m, batch) for name, m in models.items()}
  for name, m in models.items():  # Tracing and first steps, untimed.
    fit_step_seconds(m, data[name], 1)
  runs = {name: [] for name in models}
  names = list(models)
  for r in range(repeats):
    shift = r % len(names)
    for name in names[shift:] + names[:shift]:
      runs[name].append(fit_step_seconds(models[name], data[name], steps))
  return {name: harness.median(v) for name, v in runs.items()}, runs


def run(args, argv=None):
  result = harness.start(NAME, argv)
  base = load_config(args.config, args.set)
  result["model"] = {
      "config": args.config, "overrides": list(args.set), "fps": base.fps,
      "crop_seconds": base.crop_seconds,
      "frames_per_crop": int(round(base.fps * base.crop_seconds)),
      "mel_encoder": base.mel_encoder, "wave_encoder": base.wave_encoder,
      "video_encoder": base.video_encoder,
      "video_encoder_kwargs": dict(base.video_encoder_kwargs),
      "pairs_audio_visual": sorted(base.pair_weights),
      "pairs_audio_only": [p for p in base.pair_weights if "video" not in p]}

  # Cost against resolution, at a fixed batch.
  models = {"audio_only": build(args.config, audio_only=True,
                                overrides=args.set)}
  for size in args.resolutions:
    models[f"{size}px"] = build(args.config, resolution=size,
                                overrides=args.set)
  medians, runs = time_models(models, args.batch, args.steps, args.repeats)
  audio = medians["audio_only"]
  rows = [{"resolution": None, "step_seconds": harness.rounded(audio),
           "relative_to_audio_only": 1.0,
           "step_seconds_all": [harness.rounded(x)
                                for x in runs["audio_only"]]}]
  for size in args.resolutions:
    step = medians[f"{size}px"]
    rows.append({"resolution": size, "step_seconds": harness.rounded(step),
                 "relative_to_audio_only": harness.rounded(step / audio, 3),
                 "examples_per_second": harness.rounded(args.batch / step),
                 "step_seconds_all": [harness.rounded(x)
                                      for x in runs[f"{size}px"]]})
  result["by_resolution"] = {"batch": args.batch, "rows": rows}
  at = {r["resolution"]: r["relative_to_audio_only"] for r in rows}
  result["target"] = {"resolution": args.target_resolution,
                      "max_relative_cost": MAX_RELATIVE_COST,
                      "relative_cost": at.get(args.target_resolution)}
  if at.get(args.target_resolution) is not None:
    result["target_met"] = at[args.target_resolution] <= MAX_RELATIVE_COST
  del models

  # Cost against batch, at the target resolution.
  batch_rows = []
  for batch in args.batches:
    pair = {"audio_only": build(args.config, audio_only=True,
                                overrides=args.set),
            "av": build(args.config, resolution=args.target_resolution,
                        overrides=args.set)}
    medians, _ = time_models(pair, batch, args.steps,
                             max(1, args.repeats // 2))
    batch_rows.append({
        "batch": batch, "resolution": args.target_resolution,
        "audio_only_step_seconds": harness.rounded(medians["audio_only"]),
        "step_seconds": harness.rounded(medians["av"]),
        "relative_to_audio_only": harness.rounded(
            medians["av"] / medians["audio_only"], 3),
        "examples_per_second": harness.rounded(batch / medians["av"])})
  result["by_batch"] = batch_rows
  result["settings"] = {"batch": args.batch, "steps": args.steps,
                        "repeats": args.repeats,
                        "resolutions": args.resolutions,
                        "batches": args.batches}
  if args.plot:
    result["plot"] = plot(result, args.plot)
  return harness.finish(result, args.output)


def plot(result, path):
  import matplotlib
  matplotlib.use("Agg")
  import matplotlib.pyplot as plt
  rows = [r for r in result["by_resolution"]["rows"]
          if r["resolution"] is not None]
  fig, (left, right) = plt.subplots(1, 2, figsize=(9, 3.6))
  sizes = [r["resolution"] for r in rows]
  left.plot(sizes, [r["relative_to_audio_only"] for r in rows], "o-",
            label="audio + video")
  left.axhline(1.0, color="gray", lw=1, label="audio only")
  target = result["target"]
  left.axhline(target["max_relative_cost"], color="red", ls="--", lw=1,
               label=f"target at {target['resolution']} px")
  left.set_xscale("log", base=2)
  left.set_xticks(sizes, [str(s) for s in sizes])
  left.set_xlabel("video resolution (px, square)")
  left.set_ylabel("step time / audio-only step")
  left.set_title(f"batch {result['by_resolution']['batch']}, "
                 f"{result['model']['frames_per_crop']} frames")
  left.legend(fontsize=8)
  batches = result["by_batch"]
  if batches:
    right.plot([b["batch"] for b in batches],
               [b["step_seconds"] for b in batches], "o-",
               label=f"audio + video {batches[0]['resolution']} px")
    right.plot([b["batch"] for b in batches],
               [b["audio_only_step_seconds"] for b in batches], "s-",
               label="audio only")
    right.set_xscale("log", base=2)
    right.set_yscale("log")
    right.set_xlabel("batch")
    right.set_ylabel("step seconds")
    right.set_title("step time against batch")
    right.legend(fontsize=8)
  fig.suptitle(f"Multimodal step cost ({result['machine']['device']})",
               fontsize=9)
  fig.tight_layout()
  os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
  fig.savefig(path, dpi=110)
  plt.close(fig)
  return os.path.relpath(path, os.path.dirname(os.path.abspath(path)))


def parse(argv):
  parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
  parser.add_argument("--config", default="multimodal/configs/default.py")
  parser.add_argument("--set", action="append", default=[],
                      metavar="KEY=VALUE",
                      help="config override, repeatable, e.g. "
                      "--set=video_encoder_kwargs.width=8")
  parser.add_argument("--batch", type=int, default=64)
  parser.add_argument("--resolutions", type=int, nargs="+",
                      default=[16, 32, 64, 112])
  parser.add_argument("--target_resolution", type=int, default=32)
  parser.add_argument("--batches", type=int, nargs="+",
                      default=[16, 64, 256])
  parser.add_argument("--steps", type=int, default=3)
  parser.add_argument("--repeats", type=int, default=3)
  parser.add_argument("--output",
                      default=harness.default_output("multimodal_cost"))
  parser.add_argument("--plot", default=os.path.join(
      harness.RESULTS_DIR, "multimodal_cost.png"))
  return parser.parse_args(argv)


SMOKE_ARGS = ["--config=multimodal/configs/tiny.py", "--batch=4",
              "--resolutions", "8", "16", "--target_resolution=16",
              "--batches", "2", "4", "8", "--steps=1", "--repeats=1"]


def main(argv=None):
  argv = sys.argv[1:] if argv is None else argv
  return run(parse(argv), argv)


if __name__ == "__main__":
  main()
