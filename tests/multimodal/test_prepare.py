"""multimodal/prepare.py end to end on the DirectRunner, over a folder of
real media made with PyAV (good files of every container, and bad ones of
every kind): counts, audio and frames read back through the tfrecord:
source, exactly-once, and re-runs that write nothing new."""

import json
import os
import shutil
import subprocess
import sys

import numpy as np
import pytest
import soundfile

from common.data import data_sources
from common.data import tfrecord_source
from common.io import folder_lock
from common.io import media
from multimodal import prepare
from tests import media_files
from tests import processes

ROOT = processes.ROOT
SETTINGS = media.ClipSettings(clip_seconds=1.0, fps=4.0, resolution=32)
FLAGS = ["--clip_seconds=1", "--fps=4", "--resolution=32"]
# Clips per usable input: whole seconds, plus a tail of >= 0.5 s.
EXPECTED_CLIPS = {"a.mp4": 2, "b.webm": 2, "c.mkv": 3, "d.mov": 2,
                  "x.flac": 1}
EXPECTED_SKIPS = {"silent.mp4": "no_audio_track", "zero.mp4": "empty",
                  "cut.mp4": "truncated", "cut.webm": "truncated",
                  "odd.mkv": "unsupported_codec", "noise.avi": "unreadable",
                  "short.wav": "too_short"}


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
  """A folder of 12 inputs (5 usable) and one non-media file."""
  media_files.require_encoders("libx264", "aac", "libvpx-vp9", "libopus", "ffv1",
                         "flac", "mpeg4", "pcm_s16le")
  root = tmp_path_factory.mktemp("corpus")
  sources = {
      "a.mp4": media_files.write_media(root / "a.mp4", seconds=2.2),
      "b.webm": media_files.write_media(root / "b.webm", seconds=2.3,
                                  video_codec="libvpx-vp9",
                                  audio_codec="libopus", rate=48000),
      "c.mkv": media_files.write_media(root / "c.mkv", seconds=3.0,
                                 video_codec="ffv1", audio_codec="flac",
                                 rate=16000, channels=1),
      "d.mov": media_files.write_media(root / "d.mov", seconds=1.7,
                                 video_codec="mpeg4",
                                 audio_codec="pcm_s16le", rate=44100),
  }
  sources["x.flac"] = media_files.tone(1.2, 22050)
  soundfile.write(root / "x.flac", sources["x.flac"], 22050)
  media_files.write_media(root / "silent.mp4", seconds=1.0, audio_codec=None)
  (root / "zero.mp4").write_bytes(b"")
  media_files.truncate(root / "a.mp4", root / "cut.mp4")
  media_files.truncate(root / "b.webm", root / "cut.webm")
  media_files.replace_once(root / "c.mkv", root / "odd.mkv", b"A_FLAC", b"A_QQQQ")
  (root / "noise.avi").write_bytes(np.random.default_rng(1).bytes(3000))
  soundfile.write(root / "short.wav", media_files.tone(0.3, 16000), 16000)
  (root / "notes.txt").write_text("not media")
  return root, sources


def snapshot(folder):
  """Every file under `folder` with its modification time and bytes (but
  the lock, which every run takes: common/io/folder_lock.py)."""
  found = {}
  for base, _, files in os.walk(folder):
    for name in files:
      if name == folder_lock.LOCK_FILE:
        continue
      path = os.path.join(base, name)
      with open(path, "rb") as f:
        found[os.path.relpath(path, folder)] = (os.stat(path).st_mtime_ns,
                                                f.read())
  return found


def read_back(output):
  source = tfrecord_source.TfrecordSource(str(output), shuffle_files=False)
  clips = {}
  for path in source.files:
    single = tfrecord_source.TfrecordSource(path, shuffle_files=False)
    for x in single.dataset(with_frames=True, with_clip_id=True):
      clip_id = x["clip_id"].numpy().decode()
      assert clip_id not in clips, f"{clip_id} written twice"
      clips[clip_id] = (os.path.basename(path), x)
  return clips


def child_env():
  env = dict(os.environ)
  env["PYTHONPATH"] = ROOT + os.pathsep + env.get("PYTHONPATH", "")
  env["TF_CPP_MIN_LOG_LEVEL"] = "2"
  return env


def test_prepare_folder_exactly_once_and_rerun(corpus, tmp_path):
  root, sources = corpus
  output = tmp_path / "prepared"
  summary = prepare.prepare(str(root), str(output), SETTINGS, num_shards=3,
                            progress=False)
  assert summary["inputs"] == 12 and summary["inputs_used"] == 5
  assert summary["clips_written"] == sum(EXPECTED_CLIPS.values())
  skipped = {os.path.basename(s["path"]): s["reason"]
             for s in summary["skipped"]}
  assert skipped == EXPECTED_SKIPS
  assert summary["skipped_by_reason"]["truncated"] == 2
  counters = summary["this_run"]["counters"]
  assert counters["clips_written"] == summary["clips_written"]
  assert counters["inputs_skipped"] == len(EXPECTED_SKIPS)
  assert counters["skipped_truncated"] == 2
  names = [s["name"] for s in summary["shards"]]
  assert names == [tfrecord_source.shard_name(i, 3) for i in range(3)]
  assert sorted(n for n in os.listdir(output) if n.endswith(".tfrecord")) == (
      names)
  assert not [n for n in os.listdir(output) if ".tmp-" in n]
  spec = json.loads((output / tfrecord_source.SPEC_FILE).read_text())
  assert spec["settings"]["frames_per_clip"] == 4
  assert set(spec["features"]) == set(tfrecord_source.FEATURES)

  clips = read_back(output)
  assert len(clips) == summary["clips_written"]
  by_input = {}
  for clip_id, (shard, x) in clips.items():
    path, _, index = clip_id.rpartition("#")
    assert shard == tfrecord_source.shard_name(prepare.shard_of(path, 3), 3)
    by_input.setdefault(os.path.basename(path), []).append((int(index), x))
  assert {k: len(v) for k, v in by_input.items()} == EXPECTED_CLIPS
  for name, items in by_input.items():
    items.sort(key=lambda item: item[0])
    assert [i for i, _ in items] == list(range(len(items)))
    for _, x in items:
      frames = x["frames"].numpy()
      if name == "x.flac":
        assert frames.shape == (0, 32, 32, 3)
      else:
        assert frames.shape[1:] == (32, 32, 3)
        assert frames.shape[0] == int(np.ceil(x["audio"].shape[0] / 4000))
  # Lossless FLAC in MKV: the clips join up to the source samples.
  joined = np.concatenate([x["audio"].numpy() for _, x in by_input["c.mkv"]])
  np.testing.assert_allclose(joined, sources["c.mkv"], atol=1e-4)
  # The 1.7 s MOV keeps its 0.7 s tail (unpadded).
  assert [x["audio"].shape[0] for _, x in by_input["d.mov"]] == [16000, 11200]
  a_mp4 = np.concatenate([x["audio"].numpy() for _, x in by_input["a.mp4"]])
  reference = media_files.expected_at_16k(sources["a.mp4"], 44100)
  assert media_files.best_correlation(a_mp4, reference) > 0.999

  # A second run finds every shard complete and touches nothing.
  before = snapshot(output)
  again = prepare.prepare(str(root), str(output), SETTINGS, progress=False)
  assert snapshot(output) == before
  assert again["clips_written"] == summary["clips_written"]
  assert again["this_run"]["shards_written"] == 0

  # A lost shard is rebuilt alone, byte for byte.
  lost = max(summary["shards"], key=lambda s: s["clips"])["name"]
  os.remove(output / lost)
  rebuilt = prepare.prepare(str(root), str(output), SETTINGS, progress=False)
  assert rebuilt["this_run"]["shards_written"] == 1
  after = snapshot(output)
  assert after[lost][1] == before[lost][1]
  for name in before:
    if name not in (lost, f"manifests/{lost}.json",
                    tfrecord_source.SUMMARY_FILE):
      assert after[name] == before[name], name


def test_new_input_rewrites_only_its_shard(corpus, tmp_path):
  root, _ = corpus
  inputs = tmp_path / "inputs"
  inputs.mkdir()
  for name in ("c.mkv", "x.flac"):
    shutil.copy(root / name, inputs / name)
  output = tmp_path / "prepared"
  first = prepare.prepare(str(inputs), str(output), SETTINGS, num_shards=4,
                          progress=False)
  assert first["clips_written"] == 4
  before = snapshot(output)
  shutil.copy(root / "d.mov", inputs / "d.mov")
  second = prepare.prepare(str(inputs), str(output), SETTINGS,
                           progress=False)
  assert second["clips_written"] == 6 and second["inputs"] == 3
  assert second["this_run"]["shards_written"] == 1
  new_shard = tfrecord_source.shard_name(
      prepare.shard_of(str(inputs / "d.mov"), 4), 4)
  after = snapshot(output)
  changed = {n for n in after if after[n] != before.get(n)}
  assert changed == {new_shard, f"manifests/{new_shard}.json",
                     tfrecord_source.SUMMARY_FILE}


def test_other_settings_are_refused(corpus, tmp_path):
  root, _ = corpus
  inputs = tmp_path / "inputs"
  inputs.mkdir()
  shutil.copy(root / "x.flac", inputs / "x.flac")
  output = tmp_path / "prepared"
  prepare.prepare(str(inputs), str(output), SETTINGS, num_shards=1,
                  progress=False)
  other = media.ClipSettings(clip_seconds=0.5, fps=4.0, resolution=32)
  with pytest.raises(ValueError, match="other settings"):
    prepare.prepare(str(inputs), str(output), other, progress=False)


def test_nothing_usable_is_an_error_with_reasons(corpus, tmp_path):
  root, _ = corpus
  output = tmp_path / "prepared"
  listing = tmp_path / "bad.txt"
  listing.write_text(f"{root}/zero.mp4\n# a comment\n{root}/silent.mp4\n"
                     f"{root}/odd.mkv\n{root}/zero.mp4\n")  # Listed twice.
  with pytest.raises(data_sources.NoUsableData, match="no usable media") as e:
    prepare.prepare(str(listing), str(output), SETTINGS, num_shards=2,
                    progress=False)
  assert "1 empty" in str(e.value) and "1 no_audio_track" in str(e.value)
  summary = json.loads((output / tfrecord_source.SUMMARY_FILE).read_text())
  assert summary["inputs_skipped"] == 3 and summary["clips_written"] == 0
  with pytest.raises(data_sources.NoUsableData, match="no media files"):
    prepare.prepare(str(root / "*.nothing"), str(output), SETTINGS,
                    progress=False)


def test_command_line_with_labels_and_beam_options(corpus, tmp_path):
  root, _ = corpus
  listing = tmp_path / "list.csv"
  listing.write_text(f"path,labels\n{root}/c.mkv,dog;bark\n"
                     f"{root}/x.flac,cat\n{root}/zero.mp4,dog\n")
  output = tmp_path / "prepared"
  done = subprocess.run(
      [sys.executable, "-m", "multimodal.prepare", f"--input={listing}",
       f"--output={output}", "--num_shards=2", *FLAGS,
       "--direct_num_workers=1"],
      cwd=ROOT, env=child_env(), capture_output=True, text=True, timeout=300)
  assert done.returncode == 0, done.stderr[-3000:]
  assert "done: 4 clips" in done.stdout
  summary = json.loads((output / tfrecord_source.SUMMARY_FILE).read_text())
  assert summary["label_names"] == ["bark", "cat", "dog"]
  assert summary["skipped_by_reason"] == {"empty": 1}
  # Another process writes the same bytes (Example maps serialize sorted).
  in_process = tmp_path / "in_process"
  prepare.prepare(str(listing), str(in_process), SETTINGS, num_shards=2,
                  progress=False)
  for shard in summary["shards"]:
    assert (output / shard["name"]).read_bytes() == (
        in_process / shard["name"]).read_bytes()
  source = data_sources.load(f"tfrecord:{output}")
  assert source.label_names == ["bark", "cat", "dog"]
  labels = sorted(int(x["label"]) for x in source.dataset())
  assert labels == [1, 2, 2, 2]  # x.flac: cat; c.mkv: dog (its first).

  failed = subprocess.run(
      [sys.executable, "-m", "multimodal.prepare",
       f"--input={root}/zero.mp4", f"--output={tmp_path / 'bad'}", *FLAGS],
      cwd=ROOT, env=child_env(), capture_output=True, text=True, timeout=300)
  assert failed.returncode == 1
  last = failed.stderr.strip().splitlines()[-1]
  assert last.startswith("error: ") and "1 empty" in last


def test_a_typo_flag_is_an_error_and_beam_options_are_not(tmp_path,
                                                          child_env):
  assert prepare.unknown_arguments(["--num_shard=2", "stray"]) == [
      "stray", "--num_shard"]
  assert prepare.unknown_arguments(
      ["--direct_num_workers=2", "--direct_running_mode=multi_processing",
       "--temp_location=/tmp"]) == []
  result = subprocess.run(
      [sys.executable, "-m", "multimodal.prepare", f"--input={tmp_path}",
       f"--output={tmp_path / 'out'}", "--num_shard=2"], env=child_env,
      capture_output=True, text=True, timeout=300)
  assert result.returncode == 2
  last = result.stderr.strip().splitlines()[-1]
  assert last.startswith("error: unknown argument --num_shard (did you "
                         "mean --num_shards?)"), result.stderr[-2000:]
  assert not (tmp_path / "out").exists()
