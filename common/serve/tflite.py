"""Embedding SavedModel -> TensorFlow Lite flatbuffer, for on-device use.

The TFLite model has the SavedModel's two signatures at one fixed input
length (TFLite needs static shapes here: with a dynamic length the log-mel's
trailing new axis is a strided slice only the Flex delegate runs):

  serving_default(waveform: float32 [1, clip_samples]) -> embedding [1, D]
  window_embeddings(waveform)  -> embeddings [1, windows, D],
                                  timestamps_ms [1, windows]

`clip_samples` defaults to one window (1 s), the unit a device streams;
clips of another length are cut or padded by the caller, or converted at
that length. Only TFLite builtin ops are used, so the stock runtime runs
it (tests: within 1e-4 of the SavedModel, XNNPACK on CPU). The runtime is
LiteRT (`ai-edge-litert`, the kept successor of the deprecated
`tf.lite.Interpreter`, which is used only where LiteRT is not installed).

  python -m common.export --workdir=runs/cola --tflite
  from ai_edge_litert.interpreter import Interpreter
  interpreter = Interpreter("runs/cola/saved_model.tflite")
  embed = interpreter.get_signature_runner("serving_default")
  embed(waveform=np.zeros([1, 16000], np.float32))["embedding"]
"""

from concurrent import futures
import os
import shutil
import tempfile
import warnings

import numpy as np
import tensorflow as tf
from tensorflow.lite.tools import flatbuffer_utils

from common.data import data_sources
from common.io import audio_io
from common.io import filesystem
from common.io import quiet
from common.models import frontend as frontend_lib


def _fixed_length_module(loaded, samples):
  """The SavedModel's signatures, re-traced at one input length."""
  spec = tf.TensorSpec([1, samples], tf.float32, name="waveform")
  module = tf.Module()
  module.loaded = loaded
  module.embed = tf.function(
      lambda waveform: loaded.signatures["serving_default"](
          waveform=waveform), input_signature=[spec])
  module.embed_windows = tf.function(
      lambda waveform: loaded.signatures["window_embeddings"](
          waveform=waveform), input_signature=[spec])
  return module


def calibration_inputs(spec, samples, clips=300, seed=0):
  """Representative inputs for full-integer quantization: `clips` random
  files of a `files:DIR_OR_GLOB` or `files:LIST.csv` (or clips of
  `synthetic[:N]`), each cut at a random offset to the model's `samples`
  (zero-padded when shorter), as [1, samples] float32. Only those files
  are decoded. They should be the user's own audio: activations are
  scaled to what it produces. Unusable files are skipped."""
  kind, rest = data_sources.parse_spec(spec)
  rng = np.random.default_rng(seed)
  if kind == "synthetic":
    waveforms = data_sources.load(spec).waveforms
    waveforms = [waveforms[i] for i in rng.permutation(len(waveforms))]
  elif kind == "files":
    paths = [p for p, _ in data_sources.labelled_files(rest)]
    waveforms = _decoded(paths, rng.permutation(len(paths)))
  else:
    raise ValueError(f"--calibration={spec}: expected files:DIR_OR_GLOB, "
                     "files:LIST.csv or synthetic[:N]")
  inputs = []
  for waveform in waveforms:
    waveform = np.asarray(waveform, np.float32)
    if len(waveform) > samples:
      start = rng.integers(0, len(waveform) - samples + 1)
      waveform = waveform[start:start + samples]
    inputs.append(np.pad(waveform, (0, samples - len(waveform)))[None])
    if len(inputs) == clips:
      break
  if not inputs:
    raise ValueError(f"--calibration={spec}: no usable audio")
  return inputs


def _full_integer(converter, float_flatbuffer, representative):
  """The encoder in int8; the frontend and the window framing in float32.

  The frontend cannot be int8: the level step divides by the window's
  peak and RMS (int8 rounds a quiet window's to zero, and LiteRT's int8
  division then fails), the waveform would keep 8 bits of a quiet sound,
  and the mel energies span many decades before their logarithm. Its ops
  (named under the Keras `frontend` layer), and the framing and averaging
  around the encoder's call (outside the export's `cond`), are kept in
  float32 by name with TFLite's QuantizationDebugger; every other op, the
  encoder's convolutions, dense layers and pooling, runs on int8.
  """
  model = flatbuffer_utils.read_model_from_bytearray(
      bytearray(float_flatbuffer))
  float_nodes = set()
  for graph in model.subgraphs:
    for op in graph.operators:
      for i in op.outputs:
        name = graph.tensors[i].name
        name = name.decode() if isinstance(name, bytes) else name
        if frontend_lib.NAME in name or not name.startswith("cond"):
          float_nodes.add(name)
  converter.optimizations = [tf.lite.Optimize.DEFAULT]
  converter.representative_dataset = representative
  converter.target_spec.supported_ops = [
      tf.lite.OpsSet.TFLITE_BUILTINS_INT8, tf.lite.OpsSet.TFLITE_BUILTINS]
  debugger = tf.lite.experimental.QuantizationDebugger(
      converter=converter, debug_dataset=representative,
      debug_options=tf.lite.experimental.QuantizationDebugOptions(
          denylisted_nodes=sorted(float_nodes)))
  return debugger.get_nondebug_quantized_model()


def _decoded(paths, order):
  """The waveforms of `paths` in `order`, skipping unusable files."""
  for i in order:
    try:
      yield audio_io.read_audio(paths[i])
    except audio_io.AudioError:
      continue


def convert(saved_model, output, clip_seconds=None, calibration=None):
  """Writes `output` (.tflite) from an embedding SavedModel; returns it.

  With `calibration` (a --data spec of the user's audio, or a list of
  [1, samples] float32 inputs), the encoder is quantized to full integer:
  int8 weights and activations, XNNPACK's quantized kernels; the frontend
  stays float32 (`_full_integer` says why), float32 waveform in and
  embedding out.
  """
  loaded = tf.saved_model.load(saved_model)
  rate = int(loaded.sample_rate.numpy())
  samples = (audio_io.seconds_to_samples(clip_seconds, rate) if clip_seconds
             else int(loaded.window_samples.numpy()))
  if isinstance(calibration, str):
    calibration = calibration_inputs(calibration, samples)
  module = _fixed_length_module(loaded, samples)
  staging = tempfile.mkdtemp(prefix="tflite-")
  try:
    tf.saved_model.save(module, staging, signatures={
        "serving_default": module.embed.get_concrete_function(),
        "window_embeddings": module.embed_windows.get_concrete_function()})
    converter = tf.lite.TFLiteConverter.from_saved_model(
        staging, signature_keys=["serving_default", "window_embeddings"])
    if calibration is not None:
      if not len(calibration):
        raise ValueError("no calibration audio")

      def representative():
        for waveform in calibration:
          for key in ("serving_default", "window_embeddings"):
            yield key, {"waveform": np.asarray(waveform, np.float32)}

    with quiet.library_output(), warnings.catch_warnings():
      # The converter's C++ progress lines, and the calibrator's own use of
      # the deprecated tf.lite.Interpreter.
      warnings.simplefilter("ignore")
      flatbuffer = converter.convert()
      if calibration is not None:
        flatbuffer = _full_integer(converter, flatbuffer, representative)
  finally:
    shutil.rmtree(staging, ignore_errors=True)
  output = filesystem.absolute(output)
  filesystem.write_bytes(output, flatbuffer)
  return output


def default_output(saved_model, kind=""):
  """`runs/cola/saved_model` -> `runs/cola/saved_model.tflite` (or
  `.int8.tflite` for kind "int8")."""
  suffix = f".{kind}.tflite" if kind else ".tflite"
  saved_model = os.fspath(saved_model)
  if filesystem.is_remote(saved_model):
    return saved_model.rstrip("/") + suffix
  return os.path.normpath(saved_model) + suffix


def interpreter(**kwargs):
  """A LiteRT Interpreter (`ai_edge_litert`); TensorFlow's deprecated
  tf.lite.Interpreter where LiteRT is not installed. Its XNNPACK start-up
  line is left out of a quiet command's output (common/io/quiet.py)."""
  try:
    from ai_edge_litert.interpreter import Interpreter  # pylint: disable=import-outside-toplevel
  except ImportError:
    with warnings.catch_warnings():  # Its deprecation note.
      warnings.simplefilter("ignore")
      with quiet.library_output():
        return tf.lite.Interpreter(**kwargs)
  with quiet.library_output():
    return Interpreter(**kwargs)


class WindowEmbedder:
  """Embeds many 1 s windows with a TFLite model, as fast as a CPU allows.

    embedder = tflite.WindowEmbedder("exported/cola-4s.tflite")
    embedder.embed(windows)      # float32 [n, window] -> [n, D]

  `workers` interpreters with one thread each run in parallel on
  contiguous shares of the windows: XNNPACK's own threads synchronise at
  every op, which on EfficientNet-B0's many small ops costs more than it
  gains (a one-off measurement on 2 cores: 2 one-thread interpreters 563
  windows/s, one two-thread interpreter 394, TensorFlow on batches of 40
  windows 429; benchmarks/embedding_extraction.py: 1.51x Keras).
  Each invoke takes as many windows as the model's input holds (convert at
  `clip_seconds` = a few windows): non-overlapping windows laid end to end
  embed exactly as one at a time; a short last group is zero-padded and its
  padding dropped. Needs a model exported with hop = window.
  """

  def __init__(self, path, workers=None):
    workers = workers or min(os.cpu_count() or 1, 8)
    with filesystem.open(path, "rb") as f:  # Local or remote.
      flatbuffer = f.read()
    try:
      interpreters = [interpreter(model_content=flatbuffer, num_threads=1)
                      for _ in range(workers)]
    except ValueError as e:  # Its message does not name the file.
      raise ValueError(f"{path}: not a TFLite model ({e})") from None
    self._runners = [i.get_signature_runner("window_embeddings")
                     for i in interpreters]
    self._interpreters = interpreters  # The runners need them alive.
    samples = int(self._runners[0].get_input_details()["waveform"][
        "shape"][-1])
    _, self.group, self.embedding_size = (int(n) for n in self._runners[
        0].get_output_details()["embeddings"]["shape"])
    self.window = samples // self.group
    if self.window * self.group != samples:
      raise ValueError(
          f"{path}: {self.group} windows in {samples} samples overlap; "
          "WindowEmbedder needs a model exported with hop = window")
    # The first invoke sets up XNNPACK (and says so on stderr): done here,
    # where a quiet command filters that line.
    with quiet.library_output():
      for runner in self._runners:
        runner(waveform=np.zeros([1, samples], np.float32))
    self._pool = futures.ThreadPoolExecutor(workers)

  def _embed_share(self, runner, windows):
    out = []
    for i in range(0, len(windows), self.group):
      part = windows[i:i + self.group]
      n = len(part)
      if n < self.group:
        part = np.concatenate([part, np.zeros(
            [self.group - n, self.window], np.float32)])
      out.append(runner(waveform=part.reshape(1, -1))["embeddings"][0, :n])
    return np.concatenate(out)

  def embed(self, windows):
    """float32 [n, window] -> embeddings [n, D], in order."""
    windows = np.asarray(windows, np.float32)
    if windows.ndim != 2 or windows.shape[1] != self.window:
      raise ValueError(f"expected windows of shape [n, {self.window}], got "
                       f"{windows.shape}")
    if not len(windows):
      raise ValueError("no windows to embed")
    # Shares of whole groups, so only the very last group is ever padded.
    groups = -(-len(windows) // self.group)
    bounds = [len(g) for g in np.array_split(np.arange(groups),
                                             len(self._runners))]
    edges = np.cumsum([0] + bounds) * self.group
    jobs = [self._pool.submit(self._embed_share, runner, windows[a:b])
            for runner, a, b in zip(self._runners, edges[:-1], edges[1:])
            if a < len(windows)]
    return np.concatenate([job.result() for job in jobs])
