"""Reading an audio file block by block, for audio too long to hold at once.

Same result as audio_io.read_audio (float32 mono 16 kHz in [-1, 1], the
same AudioError reasons), but a block at a time: soundfile reads
`block_seconds` of the file, channels are averaged and soxr's streaming
resampler carries its state across blocks, so an hours-long file needs
memory for one block.
"""

import os

import numpy as np
import soundfile
import soxr

from common.io import audio_io

_READ_ERRORS = (soundfile.LibsndfileError, RuntimeError, OSError, ValueError,
                TypeError)


def blocks(path, block_seconds=60.0, sample_rate=audio_io.SAMPLE_RATE):
  """Yields float32 mono blocks of `path` at `sample_rate`.

  Raises:
    audio_io.AudioError: with read_audio's reasons (the same checks:
      audio_io.open_sound), found at the block where they show; a caller
      keeps nothing of a file that raised. Streaming has no length limit.
  """
  path = os.fspath(path)
  with audio_io.open_sound(path) as f:
    frames = max(1, int(block_seconds * f.samplerate))
    resampler = None
    if f.samplerate != sample_rate:
      resampler = soxr.ResampleStream(f.samplerate, sample_rate, 1,
                                      dtype="float32", quality="HQ")
    total = 0
    while True:
      try:
        block = f.read(frames, dtype="float32", always_2d=True)
      except _READ_ERRORS as e:
        raise audio_io.AudioError(path, audio_io.CORRUPT,
                                  str(e).strip() or type(e).__name__)
      last = len(block) < frames
      mono = audio_io.to_mono(block)
      if not np.all(np.isfinite(mono)):
        raise audio_io.AudioError(path, audio_io.NON_FINITE,
                                  "NaN or inf samples")
      total += len(mono)
      if last:
        # Before the tail is yielded: a cut-off file is not embedded.
        audio_io.check_complete(path, audio_io.declared_seconds(path, f),
                                total / f.samplerate)
        if total == 0:
          raise audio_io.AudioError(path, audio_io.EMPTY, "no samples")
      if resampler is not None:
        mono = resampler.resample_chunk(mono, last=last)
      if mono.size:
        yield np.clip(mono, -1.0, 1.0).astype(np.float32)
      if last:
        break
