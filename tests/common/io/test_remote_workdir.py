"""A whole run on a non-local filesystem, offline.

TensorFlow's in-memory `ram://` filesystem goes through the same
`tf.io.gfile` code as `gs://` or `s3://` (common/io/filesystem.py): the run
trains on audio files stored there, checkpoints, resumes, exports, and is
loaded, evaluated and embedded with every output written there too. The
same run on local disk leaves the same files, and nothing local named
after the scheme is ever created.
"""

import io
import os
import uuid

import numpy as np
import pytest
import soundfile
import tensorflow as tf

from cola.configs import tiny
from common.eval import downstream
from common.eval import embed
from common.eval import evaluate
from common.eval import tasks as tasks_lib
from common.io import filesystem
from common.serve import loader
from common.train import callbacks
from common.train import runs
from common.train import trainer

RATE = 16000


def _write_clips(root):
  """Two labelled folders of short tones and noises, as WAV files."""
  rng = np.random.default_rng(0)
  t = np.arange(RATE) / RATE
  for label, make in (("tone", lambda i: np.sin(2 * np.pi * (200 + 40 * i) * t)),
                      ("noise", lambda i: rng.uniform(-1, 1, RATE))):
    for i in range(6):
      buffer = io.BytesIO()
      soundfile.write(buffer, (0.5 * make(i)).astype(np.float32), RATE,
                      format="WAV")
      path = f"{root}/{label}/{i}.wav"
      tf.io.gfile.makedirs(os.path.dirname(path))
      with tf.io.gfile.GFile(path, "wb") as f:
        f.write(buffer.getvalue())


def _files(top):
  """Every file under `top`, relative, with pid- or time-named ones (event
  files) reduced to their kind."""
  found = set()
  for root, _, names in tf.io.gfile.walk(top):
    for name in names:
      relative = os.path.relpath(os.path.join(root, name), top)
      if name.startswith("events.out.tfevents"):
        relative = os.path.join(os.path.dirname(relative), "events")
      found.add(relative)
  return found


def _run(root, data):
  """Trains (4 steps, then a resume to 6), exports, evaluates, embeds."""
  workdir = f"{root}/run"
  config = tiny.get_config()
  first = trainer.train(config, data_spec=data, workdir=workdir, verbose=0)
  assert first["steps"] == 4
  index = callbacks.read_index(f"{workdir}/checkpoints")
  assert index["step"] == 4
  config.total_steps = 6
  resumed = trainer.train(config, data_spec=data, workdir=workdir,
                           verbose=0)
  assert resumed["steps"] == 6 and resumed["steps_this_run"] == 2
  exported = runs.export_workdir(workdir, output=f"{root}/exported")
  loaded = tf.saved_model.load(exported)
  waveform = tf.random.stateless_uniform([2, RATE], [1, 2], -0.5, 0.5)
  embedding = loaded.signatures["serving_default"](waveform=waveform)[
      "embedding"].numpy()
  assert embedding.shape == (2, 16) and np.all(np.isfinite(embedding))
  # The workdir's own export (the run's last step) loads back too.
  assert runs.saved_model_of(workdir) == f"{workdir}/saved_model"

  task = tasks_lib.load_task(data)
  settings = downstream.Settings(steps=5, batch_size=4, window_seconds=1.0)
  factory = evaluate.EncoderFactory(workdir)
  assert factory.is_workdir
  output_dir = f"{workdir}/eval"
  tf.io.gfile.makedirs(output_dir)
  results = evaluate.evaluate_task(task, factory, ["linear"], settings,
                                   output_dir, "clips")
  evaluate.write_table({"clips": results}, ["linear"], output_dir)

  clips = data[len("files:"):]
  assert embed.run(workdir, clips, f"{root}/embeddings.npz") == 0
  with tf.io.gfile.GFile(f"{root}/embeddings.npz", "rb") as f:
    arrays = np.load(io.BytesIO(f.read()))
    assert arrays["clip_embeddings"].shape == (12, 16)
  return embedding


def test_a_run_on_ram_filesystem_matches_the_same_run_on_local_disk(
    tmp_path, monkeypatch):
  monkeypatch.chdir(tmp_path)  # Where a folder named "ram:" would appear.
  remote = f"ram://{uuid.uuid4().hex}"
  _write_clips(f"{remote}/clips")
  _run(remote, f"files:{remote}/clips")
  assert not os.path.exists(tmp_path / "ram:"), os.listdir(tmp_path)
  assert os.listdir(tmp_path) == []

  local = str(tmp_path / "local")
  _write_clips(f"{local}/clips")
  _run(local, f"files:{local}/clips")
  remote_files, local_files = _files(remote), _files(local)
  # Object stores have no locks (common/io/folder_lock.py): the one difference.
  assert local_files - remote_files == {"run/.lock"}
  assert remote_files == local_files - {"run/.lock"}
  assert "run/checkpoints/checkpoint.json" in remote_files
  assert "run/saved_model/saved_model.pb" in remote_files
  assert "run/eval/table.md" in remote_files
  assert "run/eval/clips-linear-confusion.png" in remote_files
  assert "run/logs/train/events" in remote_files
  assert not any(".tmp-" in name for name in remote_files)


def test_an_interrupted_folder_commit_on_an_object_store_reads_as_absent(
    monkeypatch):
  """The SavedModel's commit copies saved_model.pb last: cut part-way, the
  destination holds no saved_model.pb, so no tool loads half an export;
  the next commit completes it."""
  root = f"ram://{uuid.uuid4().hex}"
  for version in ("old", "new"):
    for name in ("saved_model.pb", "variables/variables.index",
                 "variables/variables.data-00000-of-00001"):
      path = f"{root}/{version}/{name}"
      tf.io.gfile.makedirs(os.path.dirname(path))
      with tf.io.gfile.GFile(path, "w") as f:
        f.write(f"{version} {name}")
  target = f"{root}/saved_model"
  filesystem.commit_folder(f"{root}/old", target, "saved_model.pb")
  assert loader.is_saved_model(target)
  copied = []
  real_copy = tf.io.gfile.copy

  def copy_then_fail(source, destination, overwrite=False):
    if copied:
      raise tf.errors.UnavailableError(None, None, "connection reset")
    copied.append(destination)
    real_copy(source, destination, overwrite=overwrite)

  monkeypatch.setattr(tf.io.gfile, "copy", copy_then_fail)
  with pytest.raises(tf.errors.UnavailableError):
    filesystem.commit_folder(f"{root}/new", target, "saved_model.pb")
  assert copied and not copied[0].endswith("saved_model.pb")
  assert not loader.is_saved_model(target)
  monkeypatch.setattr(tf.io.gfile, "copy", real_copy)
  filesystem.commit_folder(f"{root}/new", target, "saved_model.pb")
  with tf.io.gfile.GFile(f"{target}/saved_model.pb") as f:
    assert f.read() == "new saved_model.pb"
  with tf.io.gfile.GFile(f"{target}/variables/variables.index") as f:
    assert f.read() == "new variables/variables.index"
  assert not tf.io.gfile.exists(f"{root}/new")


def test_prepare_and_multimodal_training_in_a_bucket(tmp_path):
  """The README's TPU example without the TPU: media in a bucket,
  prepared into shards there, and a multimodal run reading
  `tfrecord:` shards from it with its workdir there."""
  from multimodal import prepare
  from common.io import media
  from multimodal.configs import tiny as multimodal_tiny
  from tests import media_files
  media_files.require_encoders("libx264", "aac")
  bucket = f"ram://{uuid.uuid4().hex}"
  for i in range(3):
    local = tmp_path / f"v{i}.mp4"
    media_files.write_media(local, seconds=2.2)
    tf.io.gfile.copy(str(local), f"{bucket}/videos/v{i}.mp4")
  settings = media.ClipSettings(clip_seconds=1.0, fps=4.0, resolution=32)
  summary = prepare.prepare(f"{bucket}/videos", f"{bucket}/prepared",
                            settings, num_shards=2, progress=False)
  assert summary["inputs_used"] == 3 and summary["clips_written"] == 6
  assert not any(".tmp-" in n for n in tf.io.gfile.listdir(
      f"{bucket}/prepared"))
  config = multimodal_tiny.get_config()
  config.resolution = 32  # The shards' frame size.
  result = trainer.train(config, data_spec=f"tfrecord:{bucket}/prepared",
                          workdir=f"{bucket}/runs/mm", verbose=0)
  assert result["steps"] == config.total_steps
  assert loader.is_saved_model(f"{bucket}/runs/mm/saved_model")
