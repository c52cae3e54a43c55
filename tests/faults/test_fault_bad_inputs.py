"""The bad-input corpus (tests/badinputs.py) through `files:` sources and
`multimodal.prepare`: every usable file is used, every unusable one is
skipped and counted under its reason, nothing crashes, and nothing is
dropped silently (used + skipped == inputs, per kind, exactly)."""

import collections
import os

import numpy as np
import pytest

from common.data import data_sources
from common.data import tfrecord_source
from common.io import audio_io
from multimodal import prepare
from tests import badinputs
from tests import media_files


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
  media_files.require_encoders(*badinputs.ENCODERS)
  root = tmp_path_factory.mktemp("bad-inputs")
  kinds = badinputs.make_corpus(root)
  yield str(root), kinds
  badinputs.unlock(root)


def expected(kinds, root, pipeline):
  """{absolute path: expectation} of the kinds that are inputs."""
  return {os.path.join(root, k.path): getattr(k, pipeline) for k in kinds
          if getattr(k, pipeline)[0] != "absent"}


def test_the_corpus_has_at_least_fifty_kinds():
  names = [k.name for k in badinputs.KINDS]
  paths = [k.path for k in badinputs.KINDS]
  assert len(set(names)) == len(names) >= 50
  assert len(set(paths)) == len(paths)
  for k in badinputs.KINDS:
    assert k.files[0] in ("used", "skip", "absent"), k
    assert k.prepare[0] in ("clips", "skip", "absent"), k


def test_files_source_uses_every_usable_file_and_counts_every_skip(corpus):
  root, kinds = corpus
  want = expected(kinds, root, "files")
  bank = data_sources.files_bank(root, progress=False)
  used = dict(zip(bank.names, bank.waveforms))
  skipped = {path: reason for path, reason, _ in bank.skipped.files}
  # Nothing dropped, nothing read twice, nothing that is not an input.
  assert len(used) == len(bank.names) and len(skipped) == len(bank.skipped)
  assert not set(used) & set(skipped)
  assert set(used) | set(skipped) == set(want)
  for path, (outcome, value) in sorted(want.items()):
    if outcome == "skip":
      assert skipped.get(path) == value, (path, skipped.get(path))
      continue
    assert path in used, (path, skipped.get(path))
    waveform = used[path]
    assert waveform.dtype == np.float32 and waveform.ndim == 1
    assert np.all(np.isfinite(waveform)) and np.abs(waveform).max() <= 1.0
    assert abs(waveform.size - value * 16000) <= max(1, 0.01 * value * 16000), (
        path, waveform.size / 16000, value)
  want_counts = collections.Counter(
      v for o, v in want.values() if o == "skip")
  assert bank.skipped.counts == dict(want_counts)
  assert len(want_counts) >= 5 and len(used) >= 40


def test_files_glob_counts_a_folder_named_like_a_file(corpus):
  root, _ = corpus
  bank = data_sources.files_bank(os.path.join(root, "*.wav"), progress=False)
  skipped = {p: (r, d) for p, r, d in bank.skipped.files}
  assert skipped[os.path.join(root, "folder.wav")] == ("unreadable",
                                                       "a folder")
  assert os.path.join(root, "pcm16_16k_mono.wav") in bank.names


def test_nothing_usable_names_the_reasons(corpus):
  root, _ = corpus
  with pytest.raises(data_sources.NoUsableData) as error:
    data_sources.files_bank(os.path.join(root, "zero.*"), progress=False)
  assert "4 files skipped (4 empty)" in str(error.value)


def test_a_fifo_does_not_block_the_reader(corpus):
  root, _ = corpus
  with pytest.raises(audio_io.AudioError, match="not a regular file"):
    audio_io.read_audio(os.path.join(root, "pipe.wav"))


def read_clip_counts(output):
  """{source path: clips} read back from the shards."""
  source = tfrecord_source.TfrecordSource(output, shuffle_files=False)
  counts = collections.Counter()
  for x in source.dataset(with_clip_id=True):
    clip_id = x["clip_id"].numpy().decode("utf-8", "surrogateescape")
    counts[clip_id.rpartition("#")[0]] += 1
    assert np.all(np.isfinite(x["audio"].numpy()))
  return counts


@pytest.mark.slow
def test_prepare_uses_every_usable_input_and_counts_every_skip(
    corpus, tmp_path):
  root, kinds = corpus
  want = expected(kinds, root, "prepare")
  output = str(tmp_path / "prepared")
  summary = prepare.prepare(root, output, badinputs.SETTINGS, num_shards=4,
                            progress=False)
  skipped = {s["path"]: s["reason"] for s in summary["skipped"]}
  clips = read_clip_counts(output)
  assert summary["inputs"] == len(want)
  assert summary["inputs_used"] + summary["inputs_skipped"] == len(want)
  assert not set(clips) & set(skipped)
  assert set(clips) | set(skipped) == set(want)
  for path, (outcome, value) in sorted(want.items()):
    if outcome == "skip":
      assert skipped.get(path) == value, (path, skipped.get(path))
    else:
      assert clips[path] == value, (path, clips[path], skipped.get(path))
  assert summary["clips_written"] == sum(clips.values())
  want_counts = collections.Counter(
      v for o, v in want.values() if o == "skip")
  assert summary["skipped_by_reason"] == dict(want_counts)
  counters = summary["this_run"]["counters"]
  assert counters["inputs_skipped"] == sum(want_counts.values())
  for reason, count in want_counts.items():
    assert counters[f"skipped_{reason}"] == count
  assert not [n for n in os.listdir(output) if ".tmp-" in n]
