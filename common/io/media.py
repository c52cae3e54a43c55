"""Decoding media files into fixed-length clips of audio and low-res frames.

Any container and codec FFmpeg (through PyAV) reads works: MP4, WebM, MKV,
AVI, MOV, and audio-only files (FLAC, WAV, MP3, ...), which give clips with
zero frames. Audio is down-mixed to mono and resampled with soxr (the same
resampler as `common.io.audio_io`); frames are sampled at a fixed rate (the
latest frame shown at each instant) and resized so the short side is
`resolution` pixels, then centre-cropped to a square.

A whole input is decoded before it is split, so a file that turns out to be
truncated or corrupt half-way is skipped entirely instead of contributing a
partial set of clips. Media that cannot be used raise `MediaError`, whose
`reason` is one of the stable keys below (counted in prepare's summary).
"""

import dataclasses
import os
import stat

import av
import numpy as np

from common.io import audio_io

# Stable reason keys (shared with audio_io's where they mean the same).
# What a folder of media is read for (multimodal `files:`, `multimodal.prepare`):
# video containers, audio files, and audio-only containers FFmpeg reads.
VIDEO_EXTENSIONS = (".mp4", ".m4v", ".webm", ".mkv", ".avi", ".mov", ".mpg",
                    ".mpeg", ".flv", ".wmv", ".3gp", ".ogv", ".ts")
MEDIA_EXTENSIONS = VIDEO_EXTENSIONS + audio_io.AUDIO_EXTENSIONS + (
    ".m4a", ".aac", ".wma")

UNREADABLE = audio_io.UNREADABLE        # not a media file FFmpeg can open
EMPTY = audio_io.EMPTY                  # zero-byte file, or no audio samples
NON_FINITE = audio_io.NON_FINITE
TOO_SHORT = audio_io.TOO_SHORT          # shorter than the shortest clip kept
NO_AUDIO_TRACK = "no_audio_track"
UNSUPPORTED_CODEC = "unsupported_codec"  # no decoder for the audio or video
TRUNCATED = "truncated"                 # ends before its declared length
CORRUPT = "corrupt"                     # a decoding error part-way
BAD_SAMPLE_RATE = audio_io.BAD_SAMPLE_RATE
TOO_LONG = audio_io.TOO_LONG            # longer than audio_io.MAX_SECONDS
FRAME_TOO_LARGE = "frame_too_large"     # frames over MAX_FRAME_PIXELS

# An input is decoded whole: its memory is bounded by audio_io.MAX_SECONDS
# of audio and frames of at most this many pixels (8K UHD) before resizing.
MAX_FRAME_PIXELS = 7680 * 4320

# Decoded audio shorter than the declared duration by more than this share
# (and more than TRUNCATION_SLACK_SECONDS) means the file was cut off.
TRUNCATION_SHARE = 0.05
TRUNCATION_SLACK_SECONDS = 0.5


class MediaError(audio_io.AudioError):
  """A media file that cannot be used; names the file and the reason."""


@dataclasses.dataclass(frozen=True)
class ClipSettings:
  """How inputs become clips (also recorded in the prepared feature spec)."""
  sample_rate: int = audio_io.SAMPLE_RATE
  clip_seconds: float = 10.0
  fps: float = 10.0          # 0 decodes no frames at all (audio-only shards)
  resolution: int = 64       # side of the square frames, in pixels
  # A tail shorter than a full clip is kept (unpadded) when it holds at least
  # this share of a clip, and dropped otherwise.
  min_clip_fraction: float = 0.5

  def __post_init__(self):
    if self.sample_rate <= 0 or self.clip_seconds <= 0 or self.fps < 0:
      raise ValueError(f"invalid clip settings: {self}")
    if self.resolution < 1 or not 0 < self.min_clip_fraction <= 1:
      raise ValueError(f"invalid clip settings: {self}")
    if abs(self.clip_seconds * self.fps - self.frames_per_clip) > 1e-6:
      raise ValueError(
          f"clip_seconds * fps must be a whole number of frames, got "
          f"{self.clip_seconds} * {self.fps}")

  @property
  def clip_samples(self):
    return audio_io.seconds_to_samples(self.clip_seconds, self.sample_rate)

  @property
  def frames_per_clip(self):
    return audio_io.seconds_to_samples(self.clip_seconds, self.fps)


@dataclasses.dataclass
class Media:
  """A whole decoded input."""
  audio: np.ndarray          # float32 [samples] at settings.sample_rate
  frames: np.ndarray         # uint8 [T, R, R, 3]; T = 0 without video
  has_video: bool


@dataclasses.dataclass
class Clip:
  index: int
  start_seconds: float
  audio: np.ndarray          # float32 [<= clip_samples]
  frames: np.ndarray         # uint8 [<= frames_per_clip, R, R, 3]


def _name(source):
  if isinstance(source, (str, os.PathLike)):
    return os.fspath(source)
  return getattr(source, "name", None) or "<stream>"


def _size(source):
  """Byte size of a path or seekable file object (None when unknown)."""
  try:
    if isinstance(source, (str, os.PathLike)):
      return os.path.getsize(source)
    position = source.tell()
    size = source.seek(0, os.SEEK_END)
    source.seek(position)
    return size
  except (OSError, AttributeError, ValueError):
    return None


def _mp4_truncated(source, size):
  """True when an ISO-BMFF file (MP4/MOV) has a top-level box past its end.

  FFmpeg only says "invalid data" when an MP4 lost its tail (and with it
  the index, usually written last); walking the box headers tells a cut
  file from garbage.
  """
  if isinstance(source, (str, os.PathLike)):
    with open(source, "rb") as f:
      return _mp4_truncated(f, size)
  source.seek(0)
  head = source.read(8)
  if len(head) < 8 or head[4:8] != b"ftyp":
    return False
  offset = 0
  while offset + 8 <= size:
    source.seek(offset)
    header = source.read(16)
    box_size = int.from_bytes(header[:4], "big")
    if box_size == 1 and len(header) >= 16:
      box_size = int.from_bytes(header[8:16], "big")
    elif box_size == 0:  # Runs to the end of the file.
      return False
    if box_size < 8:
      return False  # Not a box structure: leave it "unreadable".
    offset += box_size
  return offset > size


def _open(source, path):
  if isinstance(source, (str, os.PathLike)):
    try:  # FFmpeg would block on a FIFO; say what a folder is.
      mode = os.stat(source).st_mode
    except OSError:
      mode = None  # av.open names the error.
    if mode is not None and not stat.S_ISREG(mode):
      raise MediaError(path, UNREADABLE, "a folder" if stat.S_ISDIR(mode)
                       else "not a regular file")
  size = _size(source)
  if size == 0:
    raise MediaError(path, EMPTY, "zero-length file")
  try:
    return av.open(source, mode="r", metadata_errors="ignore")
  except FileNotFoundError as e:
    raise MediaError(path, UNREADABLE, f"not found: {e}")
  except av.error.EOFError as e:  # The file ends inside its headers.
    raise MediaError(path, TRUNCATED, str(e).strip() or "end of file")
  except (av.FFmpegError, OSError, ValueError) as e:
    try:
      if size and _mp4_truncated(source, size):
        raise MediaError(path, TRUNCATED, "MP4/MOV box runs past end of file")
    except OSError:
      pass
    raise MediaError(path, UNREADABLE, str(e).strip() or type(e).__name__)


def _video_stream(container):
  """The first real video stream (cover art in audio files does not count)."""
  for stream in container.streams.video:
    if not stream.disposition & av.stream.Disposition.attached_pic:
      return stream
  return None


def _declared_seconds(container, stream):
  if stream.duration is not None and stream.time_base:
    return float(stream.duration * stream.time_base)
  if container.duration is not None:
    return container.duration / av.time_base
  return None


def _square(frame, resolution):
  """Resizes the short side to `resolution` and centre-crops a square."""
  scale = resolution / min(frame.width, frame.height)
  width = max(resolution, int(round(frame.width * scale)))
  height = max(resolution, int(round(frame.height * scale)))
  image = frame.to_ndarray(width=width, height=height, format="rgb24",
                           interpolation="AREA")
  top, left = (height - resolution) // 2, (width - resolution) // 2
  return image[top:top + resolution, left:left + resolution]


class _FrameSampler:
  """Picks the frame on screen at t0 + k / fps, for k = 0, 1, ..."""

  def __init__(self, fps, resolution, origin):
    self.fps = fps
    self.resolution = resolution
    self.origin = origin
    self.frames = []
    self._previous = None
    self._previous_image = None

  def _emit_until(self, seconds):
    while self.origin + len(self.frames) / self.fps < seconds:
      if self._previous_image is None:
        self._previous_image = _square(self._previous, self.resolution)
      self.frames.append(self._previous_image)

  def add(self, frame):
    if frame.time is None:
      return
    if self._previous is not None:
      self._emit_until(frame.time)
    self._previous, self._previous_image = frame, None

  def finish(self, seconds):
    """The frames of [origin, origin + seconds)."""
    if self._previous is None:
      return np.zeros([0, self.resolution, self.resolution, 3], np.uint8)
    self._emit_until(self.origin + seconds)
    count = int(np.ceil(seconds * self.fps - 1e-9))
    return np.stack(self.frames[:count])


def decode(source, settings, path=None):
  """Decodes a whole media file (a path or a binary file object).

  Returns:
    Media with mono float32 audio at settings.sample_rate and frames.
  Raises:
    MediaError: with one of the reason keys of this module.
  """
  path = path or _name(source)
  container = _open(source, path)
  with container:
    if not container.streams.audio:
      raise MediaError(path, NO_AUDIO_TRACK, "no audio stream")
    audio_stream = container.streams.audio[0]
    video_stream = _video_stream(container) if settings.fps > 0 else None
    for stream in (audio_stream, video_stream):
      if stream is not None and stream.codec_context is None:
        raise MediaError(path, UNSUPPORTED_CODEC,
                         f"no decoder for the {stream.type} stream")
    if video_stream is not None:
      context = video_stream.codec_context
      if (context.width or 0) * (context.height or 0) > MAX_FRAME_PIXELS:
        raise MediaError(path, FRAME_TOO_LARGE,
                         f"{context.width}x{context.height} frames")
      video_stream.thread_type = "AUTO"
    streams = [s for s in (audio_stream, video_stream) if s is not None]
    # Planar float at the native rate and layout; soxr resamples after.
    to_float = av.AudioResampler(format="fltp")
    chunks, native_rate = [], None
    # Frames are timed against the start of the audio stream.
    origin = (float(audio_stream.start_time * audio_stream.time_base)
              if audio_stream.start_time is not None else 0.0)
    sampler = _FrameSampler(settings.fps, settings.resolution, origin)

    decoded = [0]  # Native-rate samples so far.

    def add_audio(frames):
      for frame in frames:
        chunks.append(audio_io.to_mono(frame.to_ndarray().T))
        decoded[0] += frame.samples
      if native_rate and decoded[0] / native_rate > audio_io.MAX_SECONDS:
        raise MediaError(path, TOO_LONG,
                         f"more than {audio_io.MAX_SECONDS:.0f} s of audio")

    try:
      for packet in container.demux(streams):
        for frame in packet.decode():
          if packet.stream is video_stream:
            sampler.add(frame)
            continue
          if native_rate is None:
            native_rate = frame.sample_rate
            audio_io.check_sample_rate(path, native_rate)
          add_audio(to_float.resample(frame))
      add_audio(to_float.resample(None))
    except audio_io.AudioError:  # Ours (a ValueError): already named.
      raise
    except av.error.DecoderNotFoundError as e:
      raise MediaError(path, UNSUPPORTED_CODEC, str(e))
    except (av.FFmpegError, ValueError) as e:
      raise MediaError(path, CORRUPT, str(e).strip() or type(e).__name__)
    if not chunks:
      raise MediaError(path, EMPTY, "the audio stream holds no samples")
    samples = np.concatenate(chunks)
    seconds = samples.size / native_rate
    declared = _declared_seconds(container, audio_stream)
    # FFmpeg shortens a WAV's length to the file; its header still tells.
    declared = max(declared or 0.0,
                   audio_io.wav_declared_seconds(source) or 0.0) or None
    if declared is not None and declared - seconds > max(
        TRUNCATION_SLACK_SECONDS, TRUNCATION_SHARE * declared):
      raise MediaError(path, TRUNCATED,
                       f"{seconds:.2f} s decoded of {declared:.2f} s declared")
  samples = audio_io.check_waveform(samples, path)
  audio = np.clip(audio_io.resample(samples, native_rate,
                                    settings.sample_rate), -1.0, 1.0)
  audio = audio_io.check_waveform(audio.astype(np.float32), path)
  if video_stream is None:
    frames = np.zeros([0, settings.resolution, settings.resolution, 3],
                      np.uint8)
  else:
    frames = sampler.finish(audio.size / settings.sample_rate)
  return Media(audio, frames, video_stream is not None)


def split(media, settings, path="<media>"):
  """Cuts decoded media into clips of settings.clip_seconds.

  Full clips come first; the tail is kept (shorter, unpadded) when it holds
  at least settings.min_clip_fraction of a clip, and dropped otherwise.
  """
  clip_samples, clip_frames = settings.clip_samples, settings.frames_per_clip
  count, tail = divmod(media.audio.size, clip_samples)
  if tail >= settings.min_clip_fraction * clip_samples:
    count += 1
  if count == 0:
    raise MediaError(
        path, TOO_SHORT, f"{media.audio.size / settings.sample_rate:.2f} s "
        f"< {settings.min_clip_fraction * settings.clip_seconds:.2f} s")
  return [Clip(i, i * settings.clip_seconds,
               media.audio[i * clip_samples:(i + 1) * clip_samples],
               media.frames[i * clip_frames:(i + 1) * clip_frames])
          for i in range(count)]


def read_clips(source, settings, path=None):
  """decode + split: the clips of one input (raises MediaError)."""
  path = path or _name(source)
  return split(decode(source, settings, path), settings, path)
