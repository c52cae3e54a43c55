"""Real media files for the tests and the prepare benchmark, made with PyAV:
a tone in any container and codec, frames that encode their index, and
the ways to damage a file.
"""

import av
import numpy as np
import pytest
import soxr

SOURCE_FPS = 25
def require_encoders(*names):
  """Skips the test when this PyAV/FFmpeg build cannot encode a codec."""
  for name in names:
    try:
      av.codec.Codec(name, "w")
    except (av.codec.codec.UnknownCodecError, ValueError):
      pytest.skip(f"this PyAV build has no {name!r} encoder")


def tone(seconds, rate):
  """A 440 Hz tone with a rising envelope (so misalignment shows)."""
  t = np.arange(int(round(seconds * rate))) / rate
  return (0.5 * np.sin(2 * np.pi * 440 * t) *
          np.linspace(0.2, 1.0, t.size)).astype(np.float32)


def frame_image(index, size):
  """Red encodes the frame index; the left half is green (for cropping)."""
  width, height = size
  image = np.zeros((height, width, 3), np.uint8)
  image[..., 0] = (index * 10) % 256
  image[:, :width // 2, 1] = 200
  return image


def write_media(path, seconds=2.0, video_codec="libx264", audio_codec="aac",
                rate=44100, channels=2, size=(96, 64), container=None,
                right_gain=1.0):
  """Writes a test media file; returns the mono float32 source audio.

  Either codec may be None (no such stream). Stereo files carry the tone on
  the left and `right_gain` times it on the right.
  """
  signal = tone(seconds, rate)
  with av.open(str(path), "w", format=container) as out:
    # Every stream must exist before the first packet is muxed.
    if video_codec:
      vstream = out.add_stream(video_codec, rate=SOURCE_FPS)
      vstream.width, vstream.height = size
      vstream.pix_fmt = "yuv420p"
    if audio_codec:
      astream = out.add_stream(audio_codec, rate=rate)
      astream.layout = "stereo" if channels == 2 else "mono"
    if video_codec:
      for i in range(int(round(seconds * SOURCE_FPS))):
        frame = av.VideoFrame.from_ndarray(frame_image(i, size),
                                           format="rgb24")
        frame.pts = i
        out.mux(vstream.encode(frame))
      out.mux(vstream.encode())
    if audio_codec:
      planes = [signal] if channels == 1 else [signal, right_gain * signal]
      mux_audio(out, astream, np.stack(planes), rate)
  mono = signal if channels == 1 else signal * (1 + right_gain) / 2
  return mono


def truncate(src, dst, share=0.5):
  data = open(src, "rb").read()
  open(dst, "wb").write(data[:int(len(data) * share)])


def replace_once(src, dst, old, new):
  data = open(src, "rb").read()
  assert data.count(old) == 1, f"{old!r} occurs {data.count(old)} times"
  open(dst, "wb").write(data.replace(old, new))


def expected_at_16k(signal, rate):
  return soxr.resample(signal, rate, 16000, quality="HQ")


def best_correlation(decoded, reference, edge=400, lag=0):
  """Correlation with `decoded` delayed by `lag`, away from the edges."""
  n = min(decoded.size - lag, reference.size) - edge
  return np.corrcoef(decoded[edge + lag:n + lag], reference[edge:n])[0, 1]


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
