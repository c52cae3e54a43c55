"""What a data source skipped, and the error of a source with nothing usable.

Its own module so that every source (data_sources.py, tfrecord_source.py,
the multimodal media source) reports skips the same way without importing
the `--data` dispatcher.
"""

import collections
import dataclasses


class NoUsableData(RuntimeError):
  """Raised when a source holds no usable example at all."""


@dataclasses.dataclass
class SkipReport:
  """Files that were skipped, by reason."""
  files: list = dataclasses.field(default_factory=list)  # (path, reason, why)

  def add(self, error):
    self.files.append((error.path, error.reason, error.detail))

  @property
  def counts(self):
    return dict(collections.Counter(reason for _, reason, _ in self.files))

  def __len__(self):
    return len(self.files)

  def summary(self):
    if not self.files:
      return "no files skipped"
    counts = ", ".join(f"{n} {r}" for r, n in sorted(self.counts.items()))
    return f"{len(self.files)} files skipped ({counts})"
