"""Log-mel frontend: seconds of audio per second, batched layer against
per-example tf.signal and librosa, on the same 10 s clips.

  python -m benchmarks.frontend_throughput     # -> results/frontend.json

Candidates (COLA's feature: window 400, hop 160, FFT 1024, magnitude, 64 HTK
mel bands 60-7800 Hz, log(clip(mel, 1e-5, 1e8))):
  batched           common.models.frontend.LogMelSpectrogram on [batch, samples]
                    in one tf.function call (what the model runs)
  per_example_map   the authors' style: tf.signal on one clip at a time in
                    tf.data.map (num_parallel_calls=AUTOTUNE)
  per_example_loop  the same per-clip tf.function called in a Python loop
  librosa           librosa.feature.melspectrogram(power=1.0, htk=True,
                    norm=None, center=False), frames aligned to tf.signal's,
                    one clip at a time (librosa's own threads)
Differences are reported against the batched layer, in log-mel units:
librosa's mel filters are triangles in Hz and tf.signal's are triangles in
mel, so a second librosa figure applies tf.signal's mel matrix to librosa's
STFT to show that the STFTs agree.
Growth: the batched layer at 1, 10, 60 s (batch 8) and batch 1, 8, 32
(10 s clips).
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

from common.models import frontend as frontend_lib  # noqa: E402

NAME = "frontend_throughput"
P = dict(sample_rate=16000, window_length=400, hop_length=160,
         fft_length=1024, mel_bands=64, lower_hz=60.0, upper_hz=7800.0)


def per_example_log_mel(waveform, mel_matrix):
  """The authors' per-example feature, on a 1-D waveform."""
  stft = tf.signal.stft(waveform, P["window_length"], P["hop_length"],
                        P["fft_length"], window_fn=tf.signal.hann_window,
                        pad_end=False)
  mel = tf.tensordot(tf.abs(stft), mel_matrix, axes=1)
  return tf.math.log(tf.clip_by_value(mel, 1e-5, 1e8))[..., tf.newaxis]


def mel_matrix():
  return tf.signal.linear_to_mel_weight_matrix(
      P["mel_bands"], P["fft_length"] // 2 + 1, P["sample_rate"],
      P["lower_hz"], P["upper_hz"])


def librosa_log_mel(clip, tf_mel=None):
  """librosa's log-mel with tf.signal's framing: tf.signal frames start at
  0 and the 400-sample window sits at the start of the 1024-point FFT;
  librosa centres a short window in n_fft, so pad (n_fft - window) / 2 on
  both sides to put its windows on the same samples (equal magnitudes)."""
  import librosa
  pad = (P["fft_length"] - P["window_length"]) // 2
  y = np.pad(clip, (pad, pad))
  if tf_mel is None:
    mel = librosa.feature.melspectrogram(
        y=y, sr=P["sample_rate"], n_fft=P["fft_length"],
        hop_length=P["hop_length"], win_length=P["window_length"],
        window="hann", center=False, power=1.0, n_mels=P["mel_bands"],
        fmin=P["lower_hz"], fmax=P["upper_hz"], htk=True, norm=None).T
  else:
    spectrum = np.abs(librosa.stft(
        y, n_fft=P["fft_length"], hop_length=P["hop_length"],
        win_length=P["window_length"], window="hann", center=False)).T
    mel = spectrum @ tf_mel
  return np.log(np.clip(mel, 1e-5, 1e8))[..., np.newaxis]


def run(args, argv=None):
  result = harness.start(NAME, argv)
  clips = harness.test_clips(args.batch, args.seconds)
  seconds_total = args.batch * args.seconds
  layer = frontend_lib.LogMelSpectrogram(**P)
  matrix = mel_matrix()

  batched_fn = tf.function(layer.__call__)
  one_fn = tf.function(lambda w: per_example_log_mel(w, matrix))
  clips_t = tf.constant(clips)
  ds = tf.data.Dataset.from_tensor_slices(clips).map(
      lambda w: per_example_log_mel(w, matrix),
      num_parallel_calls=tf.data.AUTOTUNE)

  def batched():
    batched_fn(clips_t).numpy()

  def per_example_map():
    for _ in ds:
      pass

  def per_example_loop():
    for i in range(args.batch):
      one_fn(clips_t[i]).numpy()

  def librosa_run():
    for clip in clips:
      librosa_log_mel(clip)

  candidates = {"batched": batched, "per_example_map": per_example_map,
                "per_example_loop": per_example_loop}
  try:
    import librosa
    result["librosa_version"] = librosa.__version__
    candidates["librosa"] = librosa_run
  except ImportError:
    result["librosa_version"] = None
  for fn in candidates.values():  # Warm-up (tracing, librosa's caches).
    fn()
  runs = harness.interleave(candidates, args.repeats)
  table = {}
  for name, r in runs.items():
    wall, cpu = harness.median(r["wall"]), harness.median(r["cpu"])
    table[name] = {
        "audio_seconds_per_second": harness.rounded(seconds_total / wall),
        "audio_seconds_per_cpu_second": harness.rounded(seconds_total / cpu),
        "wall_seconds_median": harness.rounded(wall),
        "wall_seconds": [harness.rounded(x) for x in r["wall"]]}
  base = table["batched"]["audio_seconds_per_second"]
  for name in table:
    table[name]["batched_speedup"] = harness.rounded(
        base / table[name]["audio_seconds_per_second"], 3)
  result["candidates"] = table

  # Agreement, in log-mel units, against the batched layer.
  reference = batched_fn(clips_t).numpy()
  diffs = {"per_example": float(np.max(np.abs(
      one_fn(clips_t[0]).numpy() - reference[0])))}
  if "librosa" in candidates:
    lib = librosa_log_mel(clips[0])
    lib_tf_mel = librosa_log_mel(clips[0], matrix.numpy())
    assert lib.shape == reference[0].shape, (lib.shape, reference.shape)
    diffs["librosa"] = float(np.max(np.abs(lib - reference[0])))
    diffs["librosa_median"] = float(np.median(np.abs(lib - reference[0])))
    diffs["librosa_stft_tf_mel"] = float(np.max(np.abs(
        lib_tf_mel - reference[0])))
  result["max_abs_diff_log_mel"] = {k: harness.rounded(v, 3)
                                    for k, v in diffs.items()}

  # Growth of the batched layer with clip length and batch.
  growth = {"length": [], "batch": []}
  for kind, points in (("length", [(args.growth_batch, s)
                                   for s in args.growth_seconds]),
                       ("batch", [(b, args.seconds)
                                  for b in args.growth_batches])):
    for batch, seconds in points:
      x = tf.constant(harness.test_clips(batch, seconds, seed=1))
      batched_fn(x).numpy()
      r = harness.interleave({"x": lambda: batched_fn(x).numpy()},
                             args.repeats)["x"]
      wall = harness.median(r["wall"])
      growth[kind].append({
          "batch": batch, "seconds": seconds,
          "wall_seconds": harness.rounded(wall),
          "audio_seconds_per_second": harness.rounded(batch * seconds / wall)})
  result["growth"] = growth
  result["settings"] = {"clips": args.batch, "clip_seconds": args.seconds,
                        "repeats": args.repeats, **P}
  return harness.finish(result, args.output)


def parse(argv):
  parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
  parser.add_argument("--batch", type=int, default=32)
  parser.add_argument("--seconds", type=float, default=10.0)
  parser.add_argument("--repeats", type=int, default=5)
  parser.add_argument("--growth_seconds", type=float, nargs="+",
                      default=[1.0, 10.0, 60.0])
  parser.add_argument("--growth_batches", type=int, nargs="+",
                      default=[1, 8, 32])
  parser.add_argument("--growth_batch", type=int, default=8)
  parser.add_argument("--output", default=harness.default_output("frontend"))
  return parser.parse_args(argv)


SMOKE_ARGS = ["--batch=2", "--seconds=1", "--repeats=1",
              "--growth_seconds", "0.5", "1", "2",
              "--growth_batches", "1", "2", "3", "--growth_batch=2"]


def main(argv=None):
  argv = sys.argv[1:] if argv is None else argv
  return run(parse(argv), argv)


if __name__ == "__main__":
  main()
