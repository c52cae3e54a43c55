"""What every benchmark shares: timing, interleaving, machine facts, output.

Absolute times drift on a shared machine, so each benchmark times its own
baseline in the same process and reports ratios. `interleave` runs the
candidates' repetitions in turn (A B A B ..., order rotated each round), so
a burst of load from elsewhere falls on both sides; the figure kept for each
is the median repetition. Wall time and the process's CPU time (user +
system, all threads) are both recorded: "per core" rates divide by CPU time.
"""

import json
import os
import platform
import resource
import statistics
import sys
import time

RESULTS_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)),
                           "results")


def cpu_seconds():
  usage = resource.getrusage(resource.RUSAGE_SELF)
  return usage.ru_utime + usage.ru_stime


def peak_rss_mb():
  """Peak resident memory of this process so far, MB.

  VmHWM, not ru_maxrss: ru_maxrss survives execve, so a child process
  would report its parent's peak when that was larger.
  """
  try:
    with open("/proc/self/status") as f:
      for line in f:
        if line.startswith("VmHWM:"):
          return round(int(line.split()[1]) / 1024, 1)
  except OSError:
    pass
  return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)


def current_rss_mb():
  try:
    with open("/proc/self/statm") as f:
      return round(int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
                   / 2**20, 1)
  except OSError:
    return None


def load_average():
  return [round(x, 2) for x in os.getloadavg()]


def measure(fn):
  """(wall seconds, CPU seconds) of one call of fn()."""
  cpu, wall = cpu_seconds(), time.perf_counter()
  fn()
  return time.perf_counter() - wall, cpu_seconds() - cpu


def interleave(candidates, repeats):
  """Runs each of `candidates` ({name: fn}) `repeats` times, in turn.

  Returns {name: {"wall": [...], "cpu": [...]}} in seconds per repetition.
  """
  names = list(candidates)
  runs = {name: {"wall": [], "cpu": []} for name in names}
  for r in range(repeats):
    shift = r % len(names)
    for name in names[shift:] + names[:shift]:
      wall, cpu = measure(candidates[name])
      runs[name]["wall"].append(wall)
      runs[name]["cpu"].append(cpu)
  return runs


def step_timer():
  """A Keras callback that stamps the wall time at the end of each step
  (reading the loss waits for the step); `.times` holds the stamps."""
  import keras

  class StepTimer(keras.callbacks.Callback):
    def __init__(self):
      super().__init__()
      self.times = []

    def on_train_batch_end(self, step, logs=None):
      float(logs["loss"])  # The step has finished.
      self.times.append(time.perf_counter())

  return StepTimer()


def median(values):
  return statistics.median(values) if values else None


def rounded(x, digits=4):
  if x is None:
    return None
  if x == 0:
    return 0.0
  # Keep `digits` significant figures.
  from math import floor, log10
  return round(x, max(0, digits - 1 - int(floor(log10(abs(x))))))


def matmul_gflops(size=1024, repeats=5):
  """Dense float32 matmul GFLOP/s of this machine, now, through TF (all
  cores TF uses): the ceiling a compute-bound step could reach."""
  import tensorflow as tf
  a = tf.random.normal([size, size])
  b = tf.random.normal([size, size])

  @tf.function
  def chain(a, b):
    x = a
    for _ in range(4):
      x = tf.matmul(x, b) * 1e-3
    return tf.reduce_sum(x)

  chain(a, b).numpy()  # Trace and warm up.
  times = []
  for _ in range(repeats):
    start = time.perf_counter()
    chain(a, b).numpy()
    times.append(time.perf_counter() - start)
  flops = 4 * 2 * size**3
  return {"size": size, "gflops_median": rounded(flops / median(times) / 1e9),
          "gflops_best": rounded(flops / min(times) / 1e9)}


def machine():
  import numpy as np
  info = {"cpus": os.cpu_count(), "platform": platform.platform(),
          "python": platform.python_version(), "numpy": np.__version__,
          "device": "CPU"}
  try:
    import tensorflow as tf
    info["tensorflow"] = tf.__version__
    gpus = tf.config.list_physical_devices("GPU")
    info["device"] = (f"GPU: {', '.join(g.name for g in gpus)}" if gpus
                      else f"CPU ({os.cpu_count()} cores)")
  except ImportError:
    pass
  try:
    import keras
    info["keras"] = keras.__version__
  except ImportError:
    pass
  return info


def start(name, argv=None):
  """The common head of a result dict."""
  argv = sys.argv[1:] if argv is None else list(argv)
  return {"benchmark": name,
          "command": " ".join(["python", "-m", f"benchmarks.{name}"] + argv),
          "machine": machine(),
          "load_average_before": load_average(),
          "started": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
          "_t0": time.perf_counter()}


def finish(result, output):
  """Adds the common tail (load, peak RSS, seconds) and writes JSON."""
  result["load_average_after"] = load_average()
  result["peak_rss_mb"] = peak_rss_mb()
  result["benchmark_seconds"] = round(time.perf_counter() - result.pop("_t0"),
                                      1)
  if output:
    os.makedirs(os.path.dirname(os.path.abspath(output)), exist_ok=True)
    tmp = f"{output}.tmp-{os.getpid()}"
    with open(tmp, "w") as f:
      json.dump(result, f, indent=2)
    os.replace(tmp, output)
    print(f"wrote {output}")
  return result


def default_output(name):
  return os.path.join(RESULTS_DIR, f"{name}.json")


def quiet_tensorflow():
  os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
  import logging
  logging.getLogger("tensorflow").setLevel(logging.ERROR)
  import warnings
  warnings.filterwarnings("ignore")


def test_clips(count, seconds, seed=0, sample_rate=16000):
  """`count` clips of tones plus noise, float32 [count, samples] (content
  does not change any timing here; cheaper to make than the synthetic set)."""
  import numpy as np
  rng = np.random.default_rng(seed)
  n = int(round(seconds * sample_rate))
  t = np.arange(n, dtype=np.float32) / sample_rate
  clips = np.empty([count, n], np.float32)
  for i in range(count):
    f = rng.uniform(100, 4000)
    clips[i] = 0.3 * np.sin(2 * np.pi * f * t) + 0.05 * rng.standard_normal(
        n).astype(np.float32)
  return clips
