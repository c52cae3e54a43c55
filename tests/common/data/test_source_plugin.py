"""A new data source is one file: a module with `load_source`, named by a
dotted `--data` kind, trains like the built-in sources."""

import sys
import textwrap

import pytest

from cola.configs import tiny
from common.data import data_sources
from common.train import trainer


def test_a_users_source_module_trains_a_run(tmp_path, monkeypatch):
  package = tmp_path / "my_sources"
  package.mkdir()
  (package / "__init__.py").write_text("")
  (package / "tones.py").write_text(textwrap.dedent('''
      """N sine tones of rising pitch: a user's own data source."""
      import numpy as np
      import tensorflow as tf
      from common.data import skips

      class Tones:
        def __init__(self, count):
          t = np.arange(24000) / 16000.0
          self.audio = [0.3 * np.sin(2 * np.pi * (200 + 50 * i) * t)
                        for i in range(count)]
          self.skipped = skips.SkipReport()

        def dataset(self):
          return tf.data.Dataset.from_tensor_slices({
              "audio": np.stack(self.audio).astype(np.float32),
              "label": np.arange(len(self.audio), dtype=np.int64)})

      def load_source(args, split, min_samples, progress):
        return Tones(int(args or 8))
  '''))
  monkeypatch.syspath_prepend(str(tmp_path))
  source = data_sources.load("my_sources.tones:12")
  assert isinstance(source, data_sources.DataSource)
  assert len(list(source.dataset())) == 12
  summary = trainer.train(tiny.get_config(), data_spec="my_sources.tones:16",
                          workdir=str(tmp_path / "run"), verbose=0)
  assert summary["steps"] == 4 and summary["data"] == "my_sources.tones:16"
  sys.modules.pop("my_sources.tones", None)
  sys.modules.pop("my_sources", None)


def test_an_unknown_kind_and_a_module_without_a_loader_are_one_line_errors():
  with pytest.raises(ValueError, match="expected synthetic, files"):
    data_sources.load("nosuchkind:x")
  with pytest.raises(ValueError, match="no module nothing_here.at_all"):
    data_sources.load("nothing_here.at_all:x")
  with pytest.raises(ValueError, match="has no load_source"):
    data_sources.load("common.io.paths:x")


def test_the_built_in_kinds_are_registered():
  assert {"synthetic", "files", "tfds", "tfrecord"} <= set(
      data_sources.kinds())
