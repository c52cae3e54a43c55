"""Writing audio into a PyAV container: the fixtures of the tests and the
benchmarks' corpora make real media files with it."""

import av
import numpy as np


def mux_audio(container, stream, planes, rate):
  """Encodes float `planes` ([channels, samples], in [-1, 1]) into `stream`
  of the open output `container`, flushing the encoder at the end.

  The whole signal becomes one planar float frame, which a resampler cuts
  into the codec's sample format and frame size (AAC wants 1024-sample
  frames, MP3 1152, PCM any).
  """
  ctx = stream.codec_context
  whole = av.AudioFrame.from_ndarray(
      np.ascontiguousarray(planes, dtype=np.float32), format="fltp",
      layout=ctx.layout.name)
  whole.sample_rate, whole.pts = rate, 0
  to_codec = av.AudioResampler(format=ctx.format.name, layout=ctx.layout.name,
                               rate=rate, frame_size=ctx.frame_size or 1024)
  for frame in to_codec.resample(whole) + to_codec.resample(None):
    container.mux(stream.encode(frame))
  container.mux(stream.encode())
