"""Every reader agrees: common.embed checks files as `files:` sources and
prepare do (same reasons: a FIFO does not hang it, an empty file is
"empty", a cut file is "truncated", a non-UTF-8 name is a file like any
other), and one CSV reader takes a spreadsheet's CSV as it is saved."""

import os

import numpy as np
import pytest
import soundfile

from common.data import data_sources
from common.eval import embed
from common.io import audio_io
from common.serve import loader
from multimodal import prepare
from tests import seed_models


@pytest.fixture(scope="module")
def model(tmp_path_factory):
  return loader.load(seed_models.saved_model(
      str(tmp_path_factory.getbasetemp())))


@pytest.fixture
def odd_files(tmp_path):
  root = tmp_path / "odd"
  root.mkdir()
  rng = np.random.default_rng(0)
  wave = 0.1 * rng.standard_normal(32000).astype(np.float32)
  # A name that is not UTF-8 (Latin-1 e-acute): written by bytes path.
  soundfile.write(root / "good.wav", wave, 16000)
  os.link(root / "good.wav", os.path.join(os.fsencode(root),
                                          b"caf\xe9-latin1.wav"))
  (root / "empty.wav").write_bytes(b"")
  soundfile.write(root / "cut.wav", wave, 16000)
  data = (root / "cut.wav").read_bytes()
  (root / "cut.wav").write_bytes(data[:len(data) // 3])
  os.mkfifo(root / "pipe.wav")
  return root


def test_embed_and_files_sources_give_the_same_reasons(odd_files, model):
  paths = embed.list_inputs(str(odd_files))
  arrays = embed.embed_files(model, paths, progress=False)
  embedded = dict(zip(arrays["skipped_paths"], arrays["skipped_reasons"]))
  bank = data_sources.files_bank(str(odd_files), progress=False)
  listed = {path: reason for path, reason, _ in bank.skipped.files}
  expected = {str(odd_files / "empty.wav"): audio_io.EMPTY,
              str(odd_files / "cut.wav"): audio_io.TRUNCATED,
              str(odd_files / "pipe.wav"): audio_io.UNREADABLE}
  assert embedded == expected and listed == expected
  assert len(arrays["paths"]) == 2 == len(bank)
  assert any(p.endswith("latin1.wav") for p in arrays["paths"])


def test_a_spreadsheet_csv_reads_as_saved(tmp_path):
  rng = np.random.default_rng(0)
  for name in ("a, b.wav", "c.wav"):
    soundfile.write(tmp_path / name,
                    0.1 * rng.standard_normal(16000).astype(np.float32),
                    16000)
  # As spreadsheets save CSV: a byte-order mark, CRLF, quoted commas.
  (tmp_path / "list.csv").write_bytes(
      b'\xef\xbb\xbfpath,label\r\n"a, b.wav","dog;bark, loud"\r\n'
      b'c.wav,cat\r\n')
  bank = data_sources.files_bank(str(tmp_path / "list.csv"), progress=False)
  assert [os.path.basename(n) for n in bank.names] == ["a, b.wav", "c.wav"]
  assert bank.label_names == ["cat", "dog;bark, loud"]
  items = prepare.list_inputs(str(tmp_path / "list.csv"))
  assert [(os.path.basename(i.path), i.labels) for i in items] == [
      ("a, b.wav", ("dog", "bark, loud")), ("c.wav", ("cat",))]
