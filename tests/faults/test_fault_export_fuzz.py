"""The exported SavedModel and the HEAR module, served by long-lived
processes that receive hostile inputs: each answer is finite embeddings of
the documented shape or a clear error, and the server keeps answering.

The SavedModel server imports TensorFlow only (what TF Serving or a user's
process has); the HEAR server imports common.hear. Requests are .npy files
named on stdin, one JSON line each; the server replies with the output
shapes and whether they are finite, or with the error's type and message.
A server that crashes (an abort in an op, a dead process) fails the test at
the case that killed it.
"""

import json
import re
import subprocess
import sys

import numpy as np
import pytest

from cola.configs import tiny
from cola import model as cola_model
from common.serve import export
from tests import processes

D = 16  # The tiny encoder's embedding size.
RATE = 16000

SERVER = r"""
import json, sys
import numpy as np
import tensorflow as tf
path, mode = sys.argv[1], sys.argv[2]
if mode == "saved_model":
  model = tf.saved_model.load(path)
  def call(api, x):
    return model.signatures[api](waveform=tf.constant(x))
else:
  from common.eval import hear
  model = hear.load_model(path)
  def call(api, x):
    if api == "scene":
      return {"embedding": hear.get_scene_embeddings(x, model)}
    embeddings, stamps = hear.get_timestamp_embeddings(x, model)
    return {"embeddings": embeddings, "timestamps": stamps}
print(json.dumps({"ready": True}), flush=True)
for line in sys.stdin:
  request = json.loads(line)
  if request.get("quit"):
    break
  try:
    x = np.load(request["npy"], allow_pickle=False)
    outputs = call(request["api"], x)
    reply = {"ok": True, "outputs": {
        k: [list(np.shape(v)), bool(np.all(np.isfinite(np.asarray(v))))]
        for k, v in outputs.items()}}
  except Exception as e:  # The server answers; it does not die.
    reply = {"ok": False, "error": type(e).__name__, "message": str(e)}
  print(json.dumps(reply), flush=True)
"""


def noise(shape, seed=0, scale=0.3):
  return np.random.default_rng(seed).uniform(-scale, scale, shape).astype(
      np.float32)


def with_value(value, count=1):
  x = noise([2, RATE])
  x[1, 5000:5000 + count] = value
  return x


def sine(seconds, rate):
  t = np.arange(int(seconds * rate)) / rate
  return (0.5 * np.sin(2 * np.pi * 440 * t)).astype(np.float32)[np.newaxis]


NOT_FLOAT = r"expected to be a float tensor but is a"
NON_FINITE = r"waveform holds NaN or Inf samples"
NOT_2D = r"is not compatible with expected shape \[\?,\?\]"
HEAR_NOT_2D = r"audio must be \[n_sounds, n_samples\]"
HEAR_NOT_FLOAT = r"expected float in \[-1, 1\]"

# name: input. Lengths in samples at 16 kHz unless the name says otherwise.
INPUTS = {
    "empty_clip": np.zeros([1, 0], np.float32),
    "empty_batch": np.zeros([0, RATE], np.float32),
    "empty_batch_and_clip": np.zeros([0, 0], np.float32),
    "one_sample": np.full([1, 1], 0.5, np.float32),
    "half_window": noise([3, RATE // 2]),
    "window_plus_one": noise([2, RATE + 1]),
    "thirty_minutes": noise([1, 30 * 60 * RATE], scale=0.1),
    "batch_of_64": noise([64, RATE]),
    "silence": np.zeros([2, 3 * RATE], np.float32),
    "denormals": np.full([1, RATE], 1e-40, np.float32),
    "beyond_full_scale": 8 * noise([1, RATE]),
    "far_beyond_full_scale": 1e30 * noise([1, RATE]),
    "float32_max": np.full([1, RATE], np.finfo(np.float32).max, np.float32),
    "alternating_float32_max": np.finfo(np.float32).max * np.sign(
        noise([1, RATE])),
    "one_nan": with_value(np.nan),
    "all_nan": np.full([1, RATE], np.nan, np.float32),
    "one_inf": with_value(np.inf),
    "one_minus_inf": with_value(-np.inf),
    "int16_pcm": (noise([1, RATE]) * 32767).astype(np.int16),
    "float64": noise([1, RATE]).astype(np.float64),
    "bool": np.ones([1, RATE], bool),
    "complex64": noise([1, RATE]).astype(np.complex64),
    "strings": np.array([["a", "b"]]),
    "three_d_channels": noise([1, 2, RATE]),
    "one_d": noise([RATE]),
    "scalar": np.float32(0.5),
    "wrong_rate_44k": sine(2.0, 44100),
    "wrong_rate_8k": sine(2.0, 8000),
}

WINDOWS = {"empty_clip": 1, "one_sample": 1, "half_window": 1,
           "window_plus_one": 1, "thirty_minutes": 1800, "silence": 3,
           "wrong_rate_44k": 5, "wrong_rate_8k": 1}


def saved_model_expectation(name, api):
  """("ok", {output: shape}) or ("error", message regex)."""
  x = INPUTS[name]
  errors = {"one_nan": NON_FINITE, "all_nan": NON_FINITE,
            "one_inf": NON_FINITE, "one_minus_inf": NON_FINITE,
            "int16_pcm": NOT_FLOAT, "float64": NOT_FLOAT, "bool": NOT_FLOAT,
            "complex64": NOT_FLOAT, "strings": NOT_FLOAT,
            "three_d_channels": NOT_2D, "one_d": NOT_2D, "scalar": NOT_2D}
  if name in errors:
    return "error", errors[name]
  batch = x.shape[0]
  if api == "serving_default":
    return "ok", {"embedding": [batch, D]}
  windows = WINDOWS.get(name, 1)
  return "ok", {"embeddings": [batch, windows, D],
                "timestamps_ms": [batch, windows]}


def hear_expectation(name, api):
  x = INPUTS[name]
  errors = {"one_nan": NON_FINITE, "all_nan": NON_FINITE,
            "one_inf": NON_FINITE, "one_minus_inf": NON_FINITE,
            # int16 PCM is scaled; a type of unknown scale is refused.
            "strings": HEAR_NOT_FLOAT, "bool": HEAR_NOT_FLOAT,
            "complex64": HEAR_NOT_FLOAT,
            "three_d_channels": HEAR_NOT_2D, "one_d": HEAR_NOT_2D,
            "scalar": HEAR_NOT_2D}
  if name in errors:
    return "error", errors[name]
  batch = x.shape[0]
  if api == "scene":
    return "ok", {"embedding": [batch, D]}
  # One timestamp every 50 ms from 0 to the duration: n // 800 + 1.
  stamps = x.shape[1] // 800 + 1
  return "ok", {"embeddings": [batch, stamps, D],
                "timestamps": [batch, stamps]}


@pytest.fixture(scope="module")
def saved_model(tmp_path_factory):
  import keras
  keras.utils.set_random_seed(0)
  model = cola_model.Cola(tiny.get_config())
  model.initialize()
  path = str(tmp_path_factory.mktemp("fuzz") / "saved_model")
  export.export_saved_model(model.embedding_model(), path)
  return path


@pytest.fixture(scope="module")
def inputs(tmp_path_factory):
  folder = tmp_path_factory.mktemp("fuzz-inputs")
  paths = {}
  for name, x in INPUTS.items():
    paths[name] = str(folder / f"{name}.npy")
    np.save(paths[name], x, allow_pickle=False)
  return paths


class Server:
  """A long-lived serving process answering one request per line."""

  def __init__(self, path, mode, env, cwd):
    self.proc = subprocess.Popen(
        [sys.executable, "-c", SERVER, path, mode], env=env, cwd=cwd,
        stdin=subprocess.PIPE, stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL, text=True)
    assert json.loads(self.proc.stdout.readline()) == {"ready": True}

  def ask(self, request):
    self.proc.stdin.write(json.dumps(request) + "\n")
    self.proc.stdin.flush()
    line = self.proc.stdout.readline()
    assert line, f"the server died on {request} (exit {self.proc.wait()})"
    return json.loads(line)

  def close(self):
    self.proc.stdin.write(json.dumps({"quit": True}) + "\n")
    self.proc.stdin.flush()
    assert self.proc.wait(timeout=60) == 0


def fuzz(server, inputs, apis, expectation, skip=()):
  """Sends every input to every api; returns the number of cases."""
  cases = 0
  for name, npy in inputs.items():
    for api in apis:
      if (name, api) in skip:
        continue
      reply = server.ask({"npy": npy, "api": api})
      want, detail = expectation(name, api)
      case = f"{api}({name})"
      if want == "error":
        assert not reply["ok"], f"{case}: {reply}"
        assert reply["error"] in ("InvalidArgumentError", "ValueError"), (
            f"{case}: {reply}")
        assert re.search(detail, reply["message"]), (
            f"{case}: {reply['message'][:500]}")
      else:
        assert reply["ok"], f"{case}: {reply}"
        shapes = {k: v[0] for k, v in reply["outputs"].items()}
        assert shapes == detail, f"{case}: {shapes}"
        assert all(v[1] for v in reply["outputs"].values()), (
            f"{case}: not finite: {reply}")
      cases += 1
  # Still serving after all of it.
  reply = server.ask({"npy": inputs["batch_of_64"], "api": apis[0]})
  assert reply["ok"] and server.proc.poll() is None
  return cases


def test_saved_model_server_survives_fuzzing(saved_model, inputs, child_env):
  env = dict(child_env)
  env.pop("PYTHONPATH", None)  # TensorFlow only, as TF Serving would.
  server = Server(saved_model, "saved_model", env, cwd="/")
  cases = fuzz(server, inputs, ["serving_default", "window_embeddings"],
               saved_model_expectation)
  server.close()
  assert cases == 2 * len(INPUTS)


@pytest.mark.slow
def test_hear_module_survives_fuzzing(saved_model, inputs, child_env):
  server = Server(saved_model, "hear", child_env,
                  cwd=processes.ROOT)
  # 30 minutes of 50 ms timestamps is 36,001 windows: minutes of CPU here
  # for nothing the scene case does not show.
  skip = {("thirty_minutes", "timestamp")}
  cases = fuzz(server, inputs, ["scene", "timestamp"], hear_expectation,
               skip)
  server.close()
  assert cases == 2 * len(INPUTS) - len(skip)


HEAR_EMPTY_BATCHES = ("empty_batch", "empty_batch_and_clip")


@pytest.mark.parametrize("name", HEAR_EMPTY_BATCHES)
def test_hear_scene_embeddings_of_no_sounds(saved_model, name):
  from common.eval import hear
  model = hear.load_model(saved_model)
  out = hear.get_scene_embeddings(INPUTS[name], model)
  assert out.shape == (0, D)
