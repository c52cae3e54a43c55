"""python -m common.embed: files -> .npz, bad files listed, long files in
bounded memory, the same embeddings as the SavedModel."""

import os
import subprocess
import sys

import numpy as np
import pytest
import soundfile
import tensorflow as tf

from common.eval import embed
from common.io import audio_io
from common.serve import loader
from tests import seed_models


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
  return seed_models.saved_model(str(tmp_path_factory.getbasetemp()))


@pytest.fixture(scope="module")
def audio_dir(tmp_path_factory):
  """Good files (16 kHz mono, 44.1 kHz stereo, shorter than a window) and
  bad ones (garbage bytes, no samples, NaN samples)."""
  root = tmp_path_factory.mktemp("clips")
  rng = np.random.default_rng(0)
  os.makedirs(root / "sub")
  soundfile.write(root / "a.wav", rng.uniform(-0.5, 0.5, 56000).astype(
      np.float32), 16000, subtype="FLOAT")
  soundfile.write(root / "sub" / "b.flac", rng.uniform(-0.5, 0.5, [
      int(2.3 * 44100), 2]), 44100)
  soundfile.write(root / "c.wav", rng.uniform(-0.5, 0.5, 5000).astype(
      np.float32), 16000, subtype="FLOAT")
  (root / "garbage.wav").write_bytes(b"RIFF this is not audio")
  soundfile.write(root / "empty.wav", np.zeros([0], np.float32), 16000)
  nan = rng.uniform(-0.5, 0.5, 16000).astype(np.float32)
  nan[100] = np.nan
  soundfile.write(root / "nan.wav", nan, 16000, subtype="FLOAT")
  return root


def run_cli(args, env):
  return subprocess.run([sys.executable, "-m", "common.embed", *args],
                        env=env, capture_output=True, text=True, timeout=600)


def test_cli_embeds_files_and_lists_the_bad_ones(saved, audio_dir, tmp_path,
                                                 child_env):
  output = tmp_path / "out" / "embeddings.npz"
  result = run_cli([f"--model={saved}", f"--input={audio_dir}",
                    f"--output={output}", "--block_seconds=0.7"], child_env)
  assert result.returncode == 0, result.stderr[-3000:]
  for name, reason in [("garbage.wav", "unreadable"), ("empty.wav", "empty"),
                       ("nan.wav", "non_finite")]:
    assert f"skipped: {audio_dir / name} ({reason})" in result.stdout
  assert "3 files embedded" in result.stdout
  data = np.load(output)  # allow_pickle=False: plain arrays only.
  assert [os.path.basename(p) for p in data["paths"]] == [
      "a.wav", "c.wav", "b.flac"]
  assert sorted(os.path.basename(p) for p in data["skipped_paths"]) == [
      "empty.wav", "garbage.wav", "nan.wav"]
  # Windows of 1 s every 1 s: 3.5 s -> 3, 0.31 s -> 1 (padded), 2.3 s -> 2.
  np.testing.assert_array_equal(data["window_offsets"], [0, 3, 4, 6])
  np.testing.assert_array_equal(data["window_file"], [0, 0, 0, 1, 2, 2])
  np.testing.assert_allclose(data["durations_s"], [3.5, 0.3125, 2.3],
                             atol=1e-3)
  module = tf.saved_model.load(saved)
  for i, path in enumerate(data["paths"]):
    waveform = audio_io.read_audio(path)[np.newaxis]
    rows = slice(data["window_offsets"][i], data["window_offsets"][i + 1])
    want = module.signatures["window_embeddings"](waveform=waveform)
    clip = module.signatures["serving_default"](waveform=waveform)
    # Streaming resampling (b.flac) differs from one-shot soxr at the ulp
    # level; 16 kHz files are bit-exact inputs.
    np.testing.assert_allclose(data["window_embeddings"][rows],
                               want["embeddings"][0], atol=1e-4, rtol=1e-4)
    np.testing.assert_allclose(data["timestamps_ms"][rows],
                               want["timestamps_ms"][0], atol=1e-3)
    np.testing.assert_allclose(data["clip_embeddings"][i],
                               clip["embedding"][0], atol=1e-4, rtol=1e-4)


def test_fails_when_no_file_is_usable(saved, audio_dir, tmp_path, capsys):
  code = embed.run(saved, f"{audio_dir}/garbage.wav,{audio_dir}/empty.wav",
                   str(tmp_path / "x.npz"))
  assert code == 1
  assert "none of 2 files was usable" in capsys.readouterr().err
  assert not os.path.exists(tmp_path / "x.npz")


def test_a_tflite_model_embeds_as_the_saved_model(saved, audio_dir, tmp_path):
  """`--model=X.tflite` (parallel one-thread interpreters, 2 windows per
  invoke) gives the SavedModel's embeddings, windows and timestamps."""
  from common.serve import tflite
  lite = tflite.convert(saved, str(tmp_path / "m.tflite"), clip_seconds=2.0)
  outputs = {}
  for name, model in (("saved", saved), ("lite", lite)):
    assert embed.run(model, str(audio_dir), str(tmp_path / f"{name}.npz")) == 0
    outputs[name] = np.load(tmp_path / f"{name}.npz")
  want, got = outputs["saved"], outputs["lite"]
  np.testing.assert_array_equal(got["paths"], want["paths"])
  for key in ("clip_embeddings", "window_embeddings"):
    np.testing.assert_allclose(got[key], want[key], atol=1e-5, rtol=0)
  for key in ("timestamps_ms", "window_offsets", "window_samples",
              "hop_samples", "sample_rate"):
    np.testing.assert_array_equal(got[key], want[key])


def test_a_corrupt_tflite_model_is_a_one_line_error(audio_dir, tmp_path,
                                                    child_env):
  (tmp_path / "bad.tflite").write_bytes(b"not a model")
  result = run_cli([f"--model={tmp_path / 'bad.tflite'}",
                    f"--input={audio_dir}", f"--output={tmp_path / 'x.npz'}"],
                   child_env)
  assert result.returncode == 1
  errors = [l for l in result.stderr.splitlines() if l.startswith("error:")]
  assert len(errors) == 1 and "Traceback" not in result.stderr, errors
  assert "bad.tflite" in errors[0] or "TFL3" in errors[0]
  assert not os.path.exists(tmp_path / "x.npz")


@pytest.mark.parametrize("block_seconds", [0.37, 1.0, 2.5])
def test_block_size_does_not_change_the_result(saved, tmp_path,
                                               block_seconds):
  path = tmp_path / "long.wav"
  soundfile.write(path, np.random.default_rng(3).uniform(
      -0.5, 0.5, 7 * 16000 + 123).astype(np.float32), 16000, subtype="FLOAT")
  model = loader.EmbeddingModel(saved)
  want = model.embed_clip(audio_io.read_audio(path))
  got = embed.embed_file(model, path, block_seconds)
  np.testing.assert_allclose(got[0], want[0], rtol=1e-5, atol=1e-6)
  np.testing.assert_allclose(got[1], want[1], rtol=1e-5, atol=1e-6)
  np.testing.assert_allclose(got[2], want[2])


@pytest.mark.slow
def test_an_hour_of_audio_in_bounded_memory(saved, tmp_path, child_env):
  """An hour-long 16-bit file (115 MB; 230 MB as float32) adds less to
  the peak memory of embedding a 1 minute file than decoding it whole
  would (peak RSS, fresh process; measured: under 100 MB, allocator
  slack)."""
  rng = np.random.default_rng(4)
  with soundfile.SoundFile(tmp_path / "hour.wav", "w", 16000, 1,
                           subtype="PCM_16") as f:
    for _ in range(60):
      f.write(rng.uniform(-0.5, 0.5, 60 * 16000))
  soundfile.write(tmp_path / "minute.wav", rng.uniform(-0.5, 0.5, 60 * 16000),
                  16000, subtype="PCM_16")
  script = (
      "import resource, sys\n"
      "from common.eval import embed\n"
      "from common.serve import loader\n"
      "m = loader.EmbeddingModel(sys.argv[1])\n"
      "embed.embed_file(m, sys.argv[2])\n"
      "base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss\n"
      "clip, windows, stamps, seconds = embed.embed_file(m, sys.argv[3])\n"
      "peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss\n"
      "print(len(windows), seconds, (peak - base) // 1024)\n")
  result = subprocess.run(
      [sys.executable, "-c", script, saved, str(tmp_path / "minute.wav"),
       str(tmp_path / "hour.wav")], env=child_env, capture_output=True,
      text=True, timeout=600)
  assert result.returncode == 0, result.stderr[-2000:]
  windows, seconds, grown_mb = result.stdout.split()[-3:]
  assert int(windows) == 3600 and float(seconds) == 3600.0
  assert int(grown_mb) < 150, result.stdout
