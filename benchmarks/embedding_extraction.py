"""Embedding extraction: x real time of the exported SavedModel and TFLite
model on 10 s clips, and peak memory for a 1-hour file, against a plain Keras
forward pass of the same model on the same 1 s windows, in the same run.

  python -m benchmarks.embedding_extraction   # -> results/embedding_extraction.json

The model is COLA's paper encoder (log-mel frontend + EfficientNet-B0, random
weights: speed does not depend on them), exported by common/serve/export.py and
converted by common/serve/tflite.py (4 s input = 4 windows per invoke, XNNPACK).
Paths:
  keras        Cola(...).predict_on_batch on the clips' 1 s windows (the
               baseline: what a user runs without exporting)
  saved_model  tf.saved_model.load(...).signatures["serving_default"] on
               the clips (it cuts the windows itself)
  tflite       common.serve.tflite.WindowEmbedder: 2 one-thread interpreters in
               parallel, 4 consecutive 1 s windows per invoke, window
               embeddings averaged per clip
  tflite_int8  the same with the full-integer model (common.serve.tflite.convert
               with calibration: 300 clips of --calibration, by default
               ../shared/realaudio/pool); its embeddings are compared by
               cosine with the SavedModel's
x real time = seconds of audio embedded per wall second (both cores).
Embeddings of each path are compared with the SavedModel's.
The 1-hour file (a 16 kHz WAV) is embedded in a fresh process per path,
read 60 s at a time (common/io/audio_stream.py) with windows batched 256 at a
time (common.embed for the SavedModel): peak RSS of that process, and its
RSS with the model loaded before the file is read.
Growth: the SavedModel on one clip of 10, 60, 300 s, and on 1, 4, 16 clips
of 10 s per call.
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

harness.quiet_tensorflow()

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

NAME = "embedding_extraction"
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def build_model(encoder):
  from cola import model as cola_model
  from cola.configs import paper
  config = paper.get_config()
  config.encoder = encoder
  if encoder == "tiny":
    config.encoder_kwargs = dict(width=4, depth=2, embedding_dim=16)
  tf.keras.utils.set_random_seed(0)
  model = cola_model.Cola(config)
  model.initialize()
  return model


def frames(clips, window=16000):
  """[n, samples] -> [n * windows, window] non-overlapping windows."""
  n, samples = clips.shape
  count = samples // window
  return clips[:, :count * window].reshape(n * count, window), count


def calibration_spec(args):
  """The int8 model's calibration audio: --calibration, else the real
  pool of ../shared/realaudio where it is there, else synthetic clips."""
  if args.calibration:
    return args.calibration
  pool = os.path.join(os.path.dirname(ROOT), "shared", "realaudio", "pool")
  return f"files:{pool}" if os.path.isdir(pool) else "synthetic:64"


def _child(args):
  """Embeds a long WAV with one path; prints a JSON line."""
  from common.io import audio_stream
  row = {"path_kind": args.child, "rss_start_mb": harness.current_rss_mb()}
  start = time.perf_counter()
  if args.child == "saved_model":
    from common.eval import embed
    from common.serve import loader
    model = loader.EmbeddingModel(args.saved_model)
    row["rss_model_loaded_mb"] = harness.current_rss_mb()
    t0 = time.perf_counter()
    _, windows, _, seconds = embed.embed_file(model, args.wav)
  else:
    if args.child == "tflite":
      from common.serve import tflite
      embed_windows = tflite.WindowEmbedder(args.tflite,
                                            args.tflite_workers).embed
    else:
      model = build_model(args.encoder)
      model.load_weights(args.weights)
      embed_windows = model.predict_on_batch
    row["rss_model_loaded_mb"] = harness.current_rss_mb()
    t0 = time.perf_counter()
    parts, seconds = [], 0.0
    for block in audio_stream.blocks(args.wav, 60.0):
      seconds += len(block) / 16000
      w, _ = frames(block[np.newaxis])
      for i in range(0, len(w), 256):
        parts.append(np.asarray(embed_windows(w[i:i + 256])))
    windows = np.concatenate(parts)
  wall = time.perf_counter() - t0
  row.update(windows=int(len(windows)), audio_seconds=round(seconds, 1),
             embed_seconds=round(wall, 2),
             x_real_time=harness.rounded(seconds / wall),
             total_seconds=round(time.perf_counter() - start, 2),
             peak_rss_mb=harness.peak_rss_mb())
  print("ROW " + json.dumps(row), flush=True)


def long_file_memory(args, paths, tmp):
  import soundfile
  wav = os.path.join(tmp, "long.wav")
  samples = int(args.long_seconds * 16000)
  rng = np.random.default_rng(0)
  with soundfile.SoundFile(wav, "w", 16000, 1, "PCM_16") as f:
    for i in range(0, samples, 16000 * 600):
      n = min(16000 * 600, samples - i)
      f.write((0.1 * rng.standard_normal(n)).astype(np.float32))
  rows = []
  for kind in ("keras", "saved_model", "tflite"):
    if kind == "tflite" and not paths.get("tflite"):
      continue
    cmd = [sys.executable, "-m", "benchmarks.embedding_extraction",
           f"--child={kind}", f"--wav={wav}", f"--encoder={args.encoder}",
           f"--saved_model={paths['saved_model']}",
           f"--tflite={paths.get('tflite') or ''}",
           f"--weights={paths['weights']}"]
    done = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True)
    line = [x for x in done.stdout.splitlines() if x.startswith("ROW ")]
    if done.returncode or not line:
      rows.append({"path_kind": kind, "error": done.stderr[-2000:]})
    else:
      rows.append(json.loads(line[-1][4:]))
  return {"audio_seconds": args.long_seconds, "rows": rows}


def run(args, argv=None):
  result = harness.start(NAME, argv)
  from common.serve import export
  model = build_model(args.encoder)
  with tempfile.TemporaryDirectory() as tmp:
    paths = {"weights": os.path.join(tmp, "model.weights.h5"),
             "saved_model": os.path.join(tmp, "saved_model")}
    model.save_weights(paths["weights"])
    export.export_saved_model(model.embedding_model(), paths["saved_model"])
    try:
      from common.serve import tflite
      paths["tflite"] = tflite.convert(paths["saved_model"],
                                       os.path.join(tmp, "model.tflite"),
                                       args.tflite_windows)
      result["tflite_bytes"] = os.path.getsize(paths["tflite"])
    except Exception as e:  # pylint: disable=broad-except
      result["tflite_error"] = f"{type(e).__name__}: {e}"[:500]
    try:
      paths["int8"] = tflite.convert(
          paths["saved_model"], os.path.join(tmp, "model.int8.tflite"),
          args.tflite_windows, calibration=calibration_spec(args))
      result["int8_bytes"] = os.path.getsize(paths["int8"])
      result["int8_calibration"] = calibration_spec(args)
    except Exception as e:  # pylint: disable=broad-except
      result["int8_error"] = f"{type(e).__name__}: {e}"[:500]
    loaded = tf.saved_model.load(paths["saved_model"])
    serve = loaded.signatures["serving_default"]
    embedder = (tflite.WindowEmbedder(paths["tflite"], args.tflite_workers)
                if paths.get("tflite") else None)
    int8_embedder = (tflite.WindowEmbedder(paths["int8"], args.tflite_workers)
                     if paths.get("int8") else None)

    clips = harness.test_clips(args.clips, args.seconds)
    per_call = args.clips_per_call
    calls = [clips[i:i + per_call] for i in range(0, len(clips), per_call)]

    def keras_path():
      out = []
      for c in calls:
        w, count = frames(c)
        out.append(np.asarray(model.predict_on_batch(w)).reshape(
            len(c), count, -1).mean(1))
      return np.concatenate(out)

    def saved_model_path():
      return np.concatenate([serve(waveform=tf.constant(c))[
          "embedding"].numpy() for c in calls])

    def lite_path(lite):
      def path():
        out = []
        for c in calls:
          w, count = frames(c)
          out.append(lite.embed(w).reshape(len(c), count, -1).mean(1))
        return np.concatenate(out)
      return path

    candidates = {"keras": keras_path, "saved_model": saved_model_path}
    if embedder is not None:
      candidates["tflite"] = lite_path(embedder)
    if int8_embedder is not None:
      candidates["tflite_int8"] = lite_path(int8_embedder)
    outputs = {name: fn() for name, fn in candidates.items()}  # Warm-up.
    runs = harness.interleave(candidates, args.repeats)
    audio = args.clips * args.seconds
    table = {}
    reference = outputs["saved_model"]
    scale = float(np.max(np.abs(reference)))
    for name, r in runs.items():
      wall = harness.median(r["wall"])
      table[name] = {
          "x_real_time": harness.rounded(audio / wall),
          "x_real_time_per_cpu_second": harness.rounded(
              audio / harness.median(r["cpu"])),
          "wall_seconds": [harness.rounded(x) for x in r["wall"]],
          "max_abs_diff_vs_saved_model": harness.rounded(float(np.max(np.abs(
              outputs[name] - reference))), 3),
          "embedding_max_abs": harness.rounded(scale, 3)}
    for name in table:
      table[name]["speedup_vs_keras"] = harness.rounded(
          table[name]["x_real_time"] / table["keras"]["x_real_time"], 3)
    result["candidates"] = table
    exports = [n for n in table if n not in ("keras", "tflite_int8")]
    fastest = max(exports, key=lambda n: table[n]["x_real_time"])
    result["fastest_export"] = fastest
    result["speedup_fastest_export"] = table[fastest]["speedup_vs_keras"]
    result["target_speedup"] = 1.3
    result["target_met"] = table[fastest]["speedup_vs_keras"] >= 1.3
    if "tflite_int8" in table:
      result["int8_target_speedup"] = 2.0
      result["int8_target_met"] = (
          table["tflite_int8"]["speedup_vs_keras"] >= 2.0)
      # Quantized embeddings differ from the float ones by design: how far
      # they point from them (cosine), not an absolute tolerance.
      got, want = outputs["tflite_int8"], reference
      table["tflite_int8"]["min_cosine_vs_saved_model"] = harness.rounded(
          float(np.min(np.sum(got * want, 1) / (np.linalg.norm(
              got, axis=1) * np.linalg.norm(want, axis=1)))), 4)

    growth = {"length": [], "batch": []}
    for kind, points in (("length", [(1, s) for s in args.growth_seconds]),
                         ("batch", [(b, args.seconds)
                                    for b in args.growth_batches])):
      for batch, seconds in points:
        x = tf.constant(harness.test_clips(batch, seconds, seed=2))
        serve(waveform=x)
        r = harness.interleave({"x": lambda: serve(waveform=x)[
            "embedding"].numpy()}, max(1, args.repeats // 2))["x"]
        wall = harness.median(r["wall"])
        growth[kind].append({"clips": batch, "seconds": seconds,
                             "wall_seconds": harness.rounded(wall),
                             "x_real_time": harness.rounded(
                                 batch * seconds / wall)})
    result["growth_saved_model"] = growth
    if args.long_seconds > 0:
      result["long_file"] = long_file_memory(args, paths, tmp)
  result["settings"] = {"encoder": args.encoder, "clips": args.clips,
                        "clip_seconds": args.seconds,
                        "clips_per_call": args.clips_per_call,
                        "repeats": args.repeats, "window_seconds": 1.0,
                        "hop_seconds": 1.0,
                        "tflite_interpreters": args.tflite_workers,
                        "tflite_threads_per_interpreter": 1,
                        "tflite_windows_per_invoke": args.tflite_windows}
  return harness.finish(result, args.output)


def parse(argv):
  parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
  parser.add_argument("--encoder", default="efficientnet_b0")
  parser.add_argument("--clips", type=int, default=16)
  parser.add_argument("--seconds", type=float, default=10.0)
  parser.add_argument("--clips_per_call", type=int, default=4)
  parser.add_argument("--repeats", type=int, default=3)
  parser.add_argument("--growth_seconds", type=float, nargs="+",
                      default=[10.0, 60.0, 300.0])
  parser.add_argument("--growth_batches", type=int, nargs="+",
                      default=[1, 4, 16])
  parser.add_argument("--long_seconds", type=float, default=3600.0)
  parser.add_argument("--tflite_windows", type=int, default=4,
                      help="1 s windows per TFLite invoke (its input length)")
  parser.add_argument("--tflite_workers", type=int, default=2,
                      help="one-thread TFLite interpreters run in parallel")
  parser.add_argument("--calibration", default=None, help="Audio the "
                      "int8 model is calibrated on (default: "
                      "../shared/realaudio/pool, else synthetic:64).")
  parser.add_argument("--output",
                      default=harness.default_output("embedding_extraction"))
  # Child mode (the long file).
  parser.add_argument("--child")
  parser.add_argument("--wav")
  parser.add_argument("--saved_model")
  parser.add_argument("--tflite")
  parser.add_argument("--weights")
  return parser.parse_args(argv)


SMOKE_ARGS = ["--encoder=tiny", "--clips=2", "--seconds=2",
              "--clips_per_call=2", "--repeats=1", "--growth_seconds", "1",
              "2", "3", "--growth_batches", "1", "2", "3",
              "--long_seconds=2", "--calibration=synthetic:8"]


def main(argv=None):
  argv = sys.argv[1:] if argv is None else argv
  args = parse(argv)
  if args.child:
    return _child(args)
  return run(args, argv)


if __name__ == "__main__":
  main()
