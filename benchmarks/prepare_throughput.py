"""Preparation throughput: clips/s per core of `multimodal.prepare` beside
decode-only `ffmpeg` on the same files, as a ratio.

  python -m benchmarks.prepare_throughput            # writes
  benchmarks/results/prepare.json and prints a markdown table

Three measurements over one synthetic corpus (H.264/AAC MP4, made once and
kept in --corpus_dir):
  ffmpeg     `ffmpeg -i FILE -f null -`: decodes every audio and video frame
             and throws them away (the floor for any FFmpeg-based reader);
  decode     common.io.media.read_clips alone: PyAV decode, resample,
             frame sampling and resizing, in this process;
  pipeline   multimodal.prepare.prepare on the DirectRunner (one worker):
             the above plus JPEG, Example encoding, shuffle and shard writes.
"Per core" divides by CPU seconds (user + system, all threads), so codec
threading does not flatter either side; wall-clock rates are reported too.
"""

import argparse
import json
import os
import platform
import resource
import shutil
import subprocess
import sys
import tempfile
import time

if __package__ in (None, ""):  # Run as a script: make the repo importable.
  sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(
      __file__))))

import av  # noqa: E402
import numpy as np  # noqa: E402

from common.io import media  # noqa: E402
from multimodal import prepare  # noqa: E402
from tests import media_files  # noqa: E402

RESULTS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "results",
                       "prepare.json")


def make_video(path, seconds, width, height, fps=25, rate=44100, seed=0):
  """A 'camera-like' H.264/AAC MP4: moving texture plus noise, a chirp."""
  rng = np.random.default_rng(seed)
  texture = rng.integers(0, 256, (height * 2, width * 2, 3), np.uint8)
  t = np.arange(int(seconds * rate)) / rate
  audio = 0.3 * np.sin(2 * np.pi * (200 + 300 * t) * t)
  audio = audio + 0.05 * rng.standard_normal(t.size)
  with av.open(path, "w") as out:
    vstream = out.add_stream("libx264", rate=fps)
    vstream.width, vstream.height, vstream.pix_fmt = width, height, "yuv420p"
    astream = out.add_stream("aac", rate=rate)
    astream.layout = "stereo"
    for i in range(int(seconds * fps)):
      y, x = (i * 3) % height, (i * 5) % width
      image = texture[y:y + height, x:x + width].copy()
      image[rng.random((height, width)) < 0.02] = 255
      frame = av.VideoFrame.from_ndarray(image, format="rgb24")
      frame.pts = i
      out.mux(vstream.encode(frame))
    out.mux(vstream.encode())
    media_files.mux_audio(out, astream, np.stack([audio, audio]), rate)


def make_corpus(folder, count, seconds, width, height):
  os.makedirs(folder, exist_ok=True)
  paths = []
  for i in range(count):
    path = os.path.join(folder, f"v{i:03d}_{seconds:g}s_{width}x{height}.mp4")
    if not os.path.exists(path):
      make_video(path + ".part.mp4", seconds, width, height, seed=i)
      os.replace(path + ".part.mp4", path)
    paths.append(path)
  return paths


def _cpu(who):
  usage = resource.getrusage(who)
  return usage.ru_utime + usage.ru_stime


def measure(fn, who=resource.RUSAGE_SELF):
  """(wall seconds, CPU seconds) of fn()."""
  cpu, wall = _cpu(who), time.perf_counter()
  fn()
  return time.perf_counter() - wall, _cpu(who) - cpu


def best_of(repeats, fn, who=resource.RUSAGE_SELF):
  """The fastest of `repeats` runs, by CPU time (others share this CPU)."""
  return min((measure(fn, who) for _ in range(repeats)),
             key=lambda m: m[1])


def rates(clips, wall, cpu):
  return {"wall_seconds": round(wall, 3), "cpu_seconds": round(cpu, 3),
          "clips_per_second": round(clips / wall, 3),
          "clips_per_cpu_second": round(clips / cpu, 3)}


def run(args):
  paths = make_corpus(args.corpus_dir, args.files, args.seconds, args.width,
                      args.height)
  settings = media.ClipSettings(clip_seconds=args.clip_seconds, fps=args.fps,
                                resolution=args.resolution)
  clips = sum(len(media.read_clips(p, settings)) for p in paths)  # Warm-up.
  result = {
      "benchmark": "prepare_throughput",
      "command": " ".join([os.path.basename(sys.executable), "-m",
                           "benchmarks.prepare_throughput"] + sys.argv[1:]),
      "machine": {"cpus": os.cpu_count(), "platform": platform.platform(),
                  "load_average_before": [round(x, 2)
                                          for x in os.getloadavg()]},
      "corpus": {"files": len(paths), "seconds_each": args.seconds,
                 "video": f"H.264 {args.width}x{args.height} 25 fps",
                 "audio": "AAC stereo 44.1 kHz", "clips": clips},
      "settings": {"clip_seconds": args.clip_seconds, "fps": args.fps,
                   "resolution": args.resolution, "sample_rate": 16000},
      "versions": {"pyav": av.__version__,
                   "pyav_libavcodec": ".".join(
                       map(str, av.library_versions["libavcodec"]))},
  }

  ffmpeg = shutil.which("ffmpeg")
  if ffmpeg is None:
    result["ffmpeg"] = None
    result["ffmpeg_missing"] = ("the ffmpeg command line is not installed "
                                "(apt-get install -y ffmpeg); no ratio")
    print("ffmpeg CLI not found: install it (apt-get install -y ffmpeg) for "
          "the ratio", file=sys.stderr)
  else:
    version = subprocess.run([ffmpeg, "-version"], capture_output=True,
                             text=True).stdout.split("\n")[0]
    result["versions"]["ffmpeg_cli"] = version

    def ffmpeg_decode():
      for path in paths:
        subprocess.run([ffmpeg, "-v", "error", "-nostdin", "-i", path,
                        "-f", "null", "-"], check=True)

    result["ffmpeg"] = rates(clips, *best_of(
        args.repeats, ffmpeg_decode, resource.RUSAGE_CHILDREN))

  def decode_only():
    for path in paths:
      media.read_clips(path, settings)

  result["decode"] = rates(clips, *best_of(args.repeats, decode_only))

  def pipeline():
    with tempfile.TemporaryDirectory() as output:
      # A list file, not a glob: the corpus folder may hold more files
      # (from a run with a larger --files) than this run measures.
      inputs = os.path.join(output, "inputs.txt")
      with open(inputs, "w") as f:
        f.write("\n".join(paths) + "\n")
      summary = prepare.prepare(inputs, os.path.join(output, "out"), settings,
                                num_shards=args.num_shards, progress=False)
      assert summary["clips_written"] == clips, summary

  result["pipeline"] = rates(clips, *best_of(args.repeats, pipeline))
  if result["ffmpeg"]:
    for key in ("decode", "pipeline"):
      result[f"{key}_vs_ffmpeg_per_core"] = round(
          result[key]["clips_per_cpu_second"] /
          result["ffmpeg"]["clips_per_cpu_second"], 3)
      result[f"{key}_vs_ffmpeg_wall"] = round(
          result[key]["clips_per_second"] /
          result["ffmpeg"]["clips_per_second"], 3)
  os.makedirs(os.path.dirname(args.output), exist_ok=True)
  with open(args.output, "w") as f:
    json.dump(result, f, indent=2)
  print_table(result)
  print(f"wrote {args.output}")
  return result


def print_table(result):
  print("| what | clips/s (wall) | clips/s per core (CPU) | vs ffmpeg, per "
        "core |")
  print("|---|---|---|---|")
  for key in ("ffmpeg", "decode", "pipeline"):
    row = result.get(key)
    if not row:
      print(f"| {key} | n/a | n/a | n/a |")
      continue
    ratio = result.get(f"{key}_vs_ffmpeg_per_core", 1.0 if key == "ffmpeg"
                       and row else "n/a")
    print(f"| {key} | {row['clips_per_second']} | "
          f"{row['clips_per_cpu_second']} | {ratio} |")


def main():
  parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
  parser.add_argument("--files", type=int, default=12)
  parser.add_argument("--seconds", type=float, default=10.0)
  parser.add_argument("--width", type=int, default=640)
  parser.add_argument("--height", type=int, default=360)
  parser.add_argument("--clip_seconds", type=float, default=10.0)
  parser.add_argument("--fps", type=float, default=10.0)
  parser.add_argument("--resolution", type=int, default=64)
  parser.add_argument("--num_shards", type=int, default=4)
  parser.add_argument("--repeats", type=int, default=2)
  parser.add_argument("--corpus_dir", default=os.path.join(
      tempfile.gettempdir(), "prepare_benchmark_corpus"))
  parser.add_argument("--output", default=RESULTS)
  run(parser.parse_args())


if __name__ == "__main__":
  main()
