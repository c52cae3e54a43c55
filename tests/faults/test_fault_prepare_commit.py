"""A kill at the moment between a shard and its manifest: whatever the
moment, the next run makes every input land exactly once (the shard is
renamed into place first, its manifest committed after it, and a shard
no manifest vouches for is written again)."""

import collections
import signal
import sys

import numpy as np
import pytest
import soundfile

from common.data import tfrecord_source
from common.io import media
from multimodal import prepare
from tests import processes

SETTINGS = media.ClipSettings(clip_seconds=1.0, fps=0)
# The child kills itself right after the k-th commit of the given kind:
# the rename of a shard into place (gfile's on remote paths, os.replace on
# local ones: common/io/filesystem.commit_file), or the replace of a manifest.
CHILD = """
import os, runpy, signal, sys
import tensorflow as tf
kind, target = sys.argv[1], int(sys.argv[2])
count = [0]
def after_commit():
  count[0] += 1
  if count[0] == target:
    os.kill(os.getpid(), signal.SIGKILL)
real_rename, real_replace = tf.io.gfile.rename, os.replace
def rename(src, dst, overwrite=False):
  real_rename(src, dst, overwrite=overwrite)
  if kind == "shard" and dst.endswith(".tfrecord"):
    after_commit()
def replace(src, dst, **kwargs):
  real_replace(src, dst, **kwargs)
  if kind == "manifest" and "manifests" in str(dst):
    after_commit()
  if kind == "shard" and str(dst).endswith(".tfrecord"):
    after_commit()
tf.io.gfile.rename, os.replace = rename, replace
sys.argv = ["multimodal.prepare"] + sys.argv[3:]
runpy.run_module("multimodal.prepare", run_name="__main__")
"""


def write_inputs(folder, names):
  rng = np.random.default_rng(len(names))
  for name in names:
    soundfile.write(folder / name,
                    0.1 * rng.standard_normal(48000).astype(np.float32), 16000)


def clips_by_input(output):
  source = tfrecord_source.TfrecordSource(str(output), shuffle_files=False)
  ids = [x["clip_id"].numpy().decode() for x in
         source.dataset(with_clip_id=True)]
  assert len(ids) == len(set(ids)), "a clip landed twice"
  return collections.Counter(i.rsplit("#", 1)[0] for i in ids)


@pytest.mark.parametrize("kind,target", [("shard", 1), ("shard", 2),
                                         ("manifest", 1)])
def test_each_input_lands_exactly_once_after_a_kill(tmp_path, child_env,
                                                    kind, target):
  media, output = tmp_path / "media", tmp_path / "prepared"
  media.mkdir()
  write_inputs(media, [f"a{i}.wav" for i in range(6)])
  prepare.prepare(str(media), str(output), SETTINGS, num_shards=4,
                  progress=False)
  write_inputs(media, [f"b{i}.wav" for i in range(6)])  # Changes shards.
  args = [f"--input={media}", f"--output={output}", "--clip_seconds=1",
          "--fps=0", "--progress=false"]
  killed = processes.run([sys.executable, "-c", CHILD, kind, str(target),
                          *args], child_env)
  assert killed.returncode == -signal.SIGKILL, killed.stderr[-3000:]
  again = processes.run([sys.executable, "-m", "multimodal.prepare", *args],
                        child_env)
  assert again.returncode == 0, again.stderr[-3000:]
  expected = {str(media / f"{p}{i}.wav"): 3 for p in "ab" for i in range(6)}
  assert dict(clips_by_input(output)) == expected
