"""Embedding SavedModel -> TensorFlow Lite flatbuffer, for on-device use.

The TFLite model has the SavedModel's two signatures at one fixed input
length (TFLite needs static shapes here: with a dynamic length the log-mel's
trailing new axis is a strided slice only the Flex delegate runs):

  serving_default(waveform: float32 [1, clip_samples]) -> embedding [1, D]
  window_embeddings(waveform)  -> embeddings [1, windows, D],
                                  timestamps_ms [1, windows]

`clip_samples` defaults to one window (1 s), the unit a device streams;
clips of another length are cut or padded by the caller, or converted at
that length. Only TFLite builtin ops are used, so the stock interpreter
runs it (tests: within 1e-4 of the SavedModel, XNNPACK on CPU).

  python -m common.export --workdir=runs/cola --tflite
  interpreter = tf.lite.Interpreter("runs/cola/saved_model.tflite")
  embed = interpreter.get_signature_runner("serving_default")
  embed(waveform=np.zeros([1, 16000], np.float32))["embedding"]
"""

import os
import shutil
import tempfile

import tensorflow as tf


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


def convert(saved_model, output, clip_seconds=None):
  """Writes `output` (.tflite) from an embedding SavedModel; returns it."""
  loaded = tf.saved_model.load(saved_model)
  rate = int(loaded.sample_rate.numpy())
  samples = (int(round(clip_seconds * rate)) if clip_seconds
             else int(loaded.window_samples.numpy()))
  module = _fixed_length_module(loaded, samples)
  staging = tempfile.mkdtemp(prefix="tflite-")
  try:
    tf.saved_model.save(module, staging, signatures={
        "serving_default": module.embed.get_concrete_function(),
        "window_embeddings": module.embed_windows.get_concrete_function()})
    converter = tf.lite.TFLiteConverter.from_saved_model(
        staging, signature_keys=["serving_default", "window_embeddings"])
    flatbuffer = converter.convert()
  finally:
    shutil.rmtree(staging, ignore_errors=True)
  output = os.path.abspath(output)
  tmp = f"{output}.tmp-{os.getpid()}"
  with open(tmp, "wb") as f:
    f.write(flatbuffer)
  os.replace(tmp, output)
  return output


def default_output(saved_model):
  """`runs/cola/saved_model` -> `runs/cola/saved_model.tflite`."""
  return os.path.normpath(saved_model) + ".tflite"
