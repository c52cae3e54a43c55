"""A corpus of bad and odd input files, made at test time.

`make_corpus(root)` writes one file (or link, folder, FIFO) per `Kind` into
`root` and returns the kinds. Everything is small: the hour-long file is
mostly silence, which FLAC stores in about 100 KB. Each kind states what
must happen to it:

  files    through a `files:ROOT` source (common/data/data_sources.py):
           ("used", seconds), ("skip", reason) or ("absent", why): not an
           input of that source at all (not audio by its extension, a
           folder...), which is a choice, not a drop.
  prepare  through `multimodal.prepare --input=ROOT` with `SETTINGS`:
           ("clips", n), ("skip", reason) or ("absent", why).

Tests run as root here, where permission bits do not stop reads: the
"no read permission" kinds are then expected to be used, and skipped as
unreadable only for other users (`READ_PERMISSIONS_ENFORCED`).
"""

import dataclasses
import os
import shutil
import stat
import struct
import tempfile

import av
import numpy as np
import soundfile

from common.io import media
from tests import media_files

SECONDS = 6.0  # Usable files: one 10 s clip (a tail >= 5 s is kept).
SETTINGS = media.ClipSettings(clip_seconds=10.0, fps=2.0, resolution=16,
                              min_clip_fraction=0.5)
LONG_SECONDS = 3600
READ_PERMISSIONS_ENFORCED = os.geteuid() != 0
ENCODERS = ("libx264", "aac", "libvpx-vp9", "libopus", "ffv1", "flac",
            "mpeg4", "pcm_s16le", "pcm_f32le", "libmp3lame")


@dataclasses.dataclass(frozen=True)
class Kind:
  name: str
  path: str      # relative to the corpus root (may hold non-UTF-8 bytes)
  make: object   # make(absolute path)
  files: tuple
  prepare: tuple


def used(seconds=SECONDS):
  return ("used", seconds)


def clips(n=1):
  return ("clips", n)


def skip(reason):
  return ("skip", reason)


NOT_AUDIO = ("absent", "not an audio file by its extension")
NOT_MEDIA = ("absent", "not a media file by its extension")
FOLDER = ("absent", "a folder: its files are inputs, not it")
LINKED_AGAIN = ("absent", "a link to a folder already read: read once")
if READ_PERMISSIONS_ENFORCED:
  NO_PERMISSION = (skip("unreadable"), skip("unreadable"))
else:  # root reads anything: the file is simply used.
  NO_PERMISSION = (used(), clips())


def tone(seconds=SECONDS, rate=16000, channels=1):
  """A 440 Hz tone (channels: the same tone at falling gains)."""
  t = np.arange(int(round(seconds * rate))) / rate
  x = 0.5 * np.sin(2 * np.pi * 440 * t)
  return np.stack([x * (1 - 0.1 * c) for c in range(channels)],
                  axis=1).astype(np.float32)


def ascii_named(write):
  """write(path) through a plain temporary name (libsndfile and FFmpeg
  take str paths as UTF-8, which non-UTF-8 names are not), then renamed."""
  def make(path):
    with tempfile.TemporaryDirectory() as folder:
      tmp = os.path.join(folder, "file" + os.path.splitext(path)[1])
      write(tmp)
      shutil.move(tmp, path)
  return make


def sound(subtype="PCM_16", rate=16000, channels=1, seconds=SECONDS,
          fmt=None, signal=None):
  def write(path):
    x = tone(seconds, rate, channels) if signal is None else signal
    soundfile.write(path, x, rate, subtype=subtype, format=fmt)
  return ascii_named(write)


def raw_bytes(data):
  def make(path):
    with open(path, "wb") as f:
      f.write(data)
  return make


def random_bytes(size, seed):
  return raw_bytes(np.random.default_rng(seed).bytes(size))


def cut(make_whole, share=0.5):
  """The first `share` of a file that `make_whole` writes."""
  def make(path):
    make_whole(path)
    with open(path, "rb") as f:
      data = f.read()
    with open(path, "wb") as f:
      f.write(data[:int(len(data) * share)])
  return make


def wav_header(data_bytes, rate, channels=1, bits=16):
  block = channels * bits // 8
  return (b"RIFF" + struct.pack("<I", 36 + data_bytes) + b"WAVE" +
          b"fmt " + struct.pack("<IHHIIHH", 16, 1, channels, rate,
                                rate * block, block, bits) +
          b"data" + struct.pack("<I", data_bytes))


def wav_claiming(seconds_declared, seconds_present, rate=16000):
  """A 16-bit WAV whose header declares more samples than it holds."""
  def make(path):
    pcm = (tone(seconds_present, rate)[:, 0] * 32767).astype("<i2")
    with open(path, "wb") as f:
      f.write(wav_header(int(seconds_declared * rate) * 2, rate))
      f.write(pcm.tobytes())
  return make


def long_flac(seconds=LONG_SECONDS, rate=8000):
  """An hour of 8 kHz FLAC: one second of tone, then silence (100 KB,
  written in under a second: FLAC codes silence in a few bits a block)."""
  def write(path):
    with soundfile.SoundFile(path, "w", rate, 1, format="FLAC",
                             subtype="PCM_16") as f:
      f.write(tone(1.0, rate)[:, 0])
      minute = np.zeros(rate * 60, np.int16)
      for _ in range(seconds // 60 - 1):
        f.write(minute)
      f.write(minute[:rate * 59])
  return ascii_named(write)


def media(video_codec="libx264", audio_codec="aac", seconds=SECONDS,
          audio_seconds=None, rate=44100, channels=2, size=(32, 24),
          fps=10, video_frames=None, container=None, signal=None,
          audio_packets=True):
  """A media file made with PyAV; either codec may be None (no stream)."""
  def write(path):
    with av.open(path, "w", format=container) as out:
      if video_codec:
        vstream = out.add_stream(video_codec, rate=fps)
        vstream.width, vstream.height = size
        vstream.pix_fmt = "yuv420p"
      if audio_codec:
        astream = out.add_stream(audio_codec, rate=rate)
        astream.layout = {1: "mono", 2: "stereo", 6: "5.1"}[channels]
      if video_codec:
        count = video_frames or int(round(seconds * fps))
        for i in range(count):
          image = np.full((size[1], size[0], 3), (i * 20) % 256, np.uint8)
          frame = av.VideoFrame.from_ndarray(image, format="rgb24")
          frame.pts = i
          out.mux(vstream.encode(frame))
        out.mux(vstream.encode())
      if audio_codec and audio_packets:
        x = signal if signal is not None else tone(
            audio_seconds or seconds, rate, channels)
        media_files.mux_audio(out, astream, x.T, rate)
  return ascii_named(write)


def with_values(values, rate=16000):
  """A float WAV of a tone with `values` written over its middle."""
  x = tone(rate=rate)
  x[len(x) // 2:len(x) // 2 + len(values), 0] = values
  return sound("FLOAT", rate, signal=x)


def folder(path):
  os.mkdir(path)


def symlink_to(target):
  def make(path):
    os.symlink(target, path)
  return make


def linked_folder_with(make_inner):
  """The file's folder is a link to a folder outside the corpus."""
  def make(path):
    folder = os.path.dirname(path)
    target = os.path.dirname(folder) + "-outside-" + os.path.basename(folder)
    os.makedirs(target)
    make_inner(os.path.join(target, os.path.basename(path)))
    os.symlink(target, folder)
  return make


def fifo(path):
  os.mkfifo(path)


def no_read_permission(make_real):
  def make(path):
    make_real(path)
    os.chmod(path, 0)
  return make


def in_unreadable_folder(make_real):
  """A good file inside a folder nobody may list or enter (mode 000)."""
  def make(path):
    make_real(path)
    os.chmod(os.path.dirname(path), 0)
  return make


def apple_double(path):
  """macOS '._name' metadata files: not audio, with an audio extension."""
  header = b"\x00\x05\x16\x07\x00\x02\x00\x00Mac OS X        "
  raw_bytes(header + b"\x00" * 4000)(path)


HTML_404 = (b"<!DOCTYPE html><html><head><title>404 Not Found</title></head>"
            b"<body><h1>Not Found</h1></body></html>\n")
NAN_VALUES = [np.nan] * 10
INF_VALUES = [np.inf, -np.inf] * 5

KINDS = [
    # Sample formats, rates, channels (libsndfile and FFmpeg both).
    Kind("wav_pcm16_16k_mono", "pcm16_16k_mono.wav", sound(),
         used(), clips()),
    Kind("wav_pcm16_44k_stereo", "pcm16_44k_stereo.wav",
         sound(rate=44100, channels=2), used(), clips()),
    Kind("wav_8bit_unsigned", "u8_22k.wav", sound("PCM_U8", 22050),
         used(), clips()),
    Kind("wav_24bit", "pcm24_48k.wav", sound("PCM_24", 48000),
         used(), clips()),
    Kind("wav_32bit_int", "pcm32.wav", sound("PCM_32"), used(), clips()),
    Kind("wav_float32", "float32.wav", sound("FLOAT"), used(), clips()),
    Kind("wav_float64", "float64.wav", sound("DOUBLE"), used(), clips()),
    Kind("wav_mu_law_8k", "ulaw_8k.wav", sound("ULAW", 8000),
         used(), clips()),
    Kind("wav_a_law_8k", "alaw_8k.wav", sound("ALAW", 8000),
         used(), clips()),
    Kind("wav_ima_adpcm", "ima_adpcm.wav", sound("IMA_ADPCM"),
         used(), clips()),
    Kind("wav_ms_adpcm", "ms_adpcm.wav", sound("MS_ADPCM"), used(), clips()),
    Kind("wav_gsm610", "gsm610_8k.wav", sound("GSM610", 8000),
         used(), clips()),
    Kind("wav_6_channels", "six_channels_48k.wav",
         sound(rate=48000, channels=6), used(), clips()),
    Kind("wav_8k", "rate_8k.wav", sound(rate=8000), used(), clips()),
    Kind("wav_96k", "rate_96k.wav", sound("PCM_24", 96000),
         used(), clips()),
    Kind("wav_all_silence", "silence.wav",
         sound(signal=np.zeros([int(SECONDS * 16000), 1], np.float32)),
         used(), clips()),
    Kind("wav_full_scale_square", "square.wav",
         sound(signal=np.sign(tone()) + (tone() == 0)), used(), clips()),
    Kind("wav_float_beyond_full_scale", "loud_float.wav",
         sound("FLOAT", signal=8 * tone()), used(), clips()),
    Kind("wav_one_sample", "one_sample.wav",
         sound(signal=np.full([1, 1], 0.5, np.float32)),
         used(1 / 16000), skip("too_short")),
    Kind("wav_300ms", "short_300ms.wav", sound(seconds=0.3),
         used(0.3), skip("too_short")),
    Kind("flac_hour_long_8k", "hour_long_8k.flac", long_flac(),
         used(LONG_SECONDS), clips(LONG_SECONDS // 10)),
    Kind("aiff", "tone.aiff", sound(fmt="AIFF"), used(), clips()),
    Kind("au", "tone.au", sound(fmt="AU"), used(), clips()),
    Kind("flac_16k", "tone.flac", sound(fmt="FLAC"), used(), clips()),
    Kind("flac_24bit_96k_stereo", "hires.flac",
         sound("PCM_24", 96000, 2, fmt="FLAC"), used(), clips()),
    Kind("ogg_vorbis", "tone.ogg", sound("VORBIS", 44100, fmt="OGG"),
         used(), clips()),
    Kind("ogg_opus", "tone.opus", sound("OPUS", 48000, fmt="OGG"),
         used(), clips()),
    Kind("mp3", "tone.mp3", sound("MPEG_LAYER_III", 44100, fmt="MP3"),
         used(), clips()),
    Kind("uppercase_extension", "LOUD.WAV", sound(), used(), clips()),
    # Empty, truncated, lying headers, non-finite samples.
    Kind("zero_bytes_wav", "zero.wav", raw_bytes(b""),
         skip("empty"), skip("empty")),
    Kind("zero_bytes_flac", "zero.flac", raw_bytes(b""),
         skip("empty"), skip("empty")),
    Kind("zero_bytes_mp3", "zero.mp3", raw_bytes(b""),
         skip("empty"), skip("empty")),
    Kind("wav_header_only", "header_only.wav", raw_bytes(wav_header(0, 16000)),
         skip("empty"), skip("empty")),
    Kind("wav_cut_inside_header", "cut_header.wav",
         raw_bytes(wav_header(32000, 16000)[:30]),
         skip("unreadable"), skip("unreadable")),
    Kind("wav_header_claims_more_samples", "claims_more.wav",
         wav_claiming(SECONDS, SECONDS / 2),
         skip("truncated"), skip("truncated")),
    Kind("flac_truncated", "cut.flac", cut(sound(fmt="FLAC")),
         skip("corrupt"), skip("corrupt")),  # Decoding fails part-way.
    Kind("mp3_truncated", "cut.mp3",
         cut(sound("MPEG_LAYER_III", 44100, fmt="MP3")),
         skip("truncated"), skip("truncated")),
    # libsndfile measures an Ogg by its last page: a cut one holds nothing.
    Kind("ogg_truncated", "cut.ogg",
         cut(sound("VORBIS", 44100, fmt="OGG")),
         skip("empty"), skip("truncated")),
    Kind("wav_nan_samples", "nan.wav", with_values(NAN_VALUES),
         skip("non_finite"), skip("non_finite")),
    Kind("wav_inf_samples", "inf.wav", with_values(INF_VALUES),
         skip("non_finite"), skip("non_finite")),
    # Wrong extensions: the content decides.
    Kind("flac_named_wav", "really_flac.wav", sound(fmt="FLAC"),
         used(), clips()),
    Kind("wav_named_mp3", "really_wav.mp3", sound(fmt="WAV"),
         used(), clips()),
    Kind("mp3_named_wav", "really_mp3.wav",
         sound("MPEG_LAYER_III", 44100, fmt="MP3"), used(), clips()),
    Kind("ogg_named_flac", "really_ogg.flac",
         sound("VORBIS", 44100, fmt="OGG"), used(), clips()),
    Kind("text_named_wav", "readme.wav", raw_bytes(b"not audio\n" * 50),
         skip("unreadable"), skip("unreadable")),
    Kind("html_error_page_named_mp3", "download.mp3", raw_bytes(HTML_404),
         skip("unreadable"), skip("unreadable")),
    Kind("random_bytes_wav", "noise.wav", random_bytes(5000, 1),
         skip("unreadable"), skip("unreadable")),
    Kind("random_bytes_flac", "noise.flac", random_bytes(5000, 2),
         skip("unreadable"), skip("unreadable")),
    Kind("png_named_flac", "image.flac",  # FFmpeg opens it as a picture.
         raw_bytes(b"\x89PNG\r\n\x1a\n" + bytes(200)),
         skip("unreadable"), skip("no_audio_track")),
    Kind("apple_double_metadata", "._pcm16_16k_mono.wav", apple_double,
         skip("unreadable"), skip("unreadable")),
    Kind("not_media_extension", "notes.txt", raw_bytes(b"hello\n"),
         NOT_AUDIO, NOT_MEDIA),
    # Names and file-system oddities.
    Kind("non_utf8_name", b"caf\xe9-\xff.wav".decode(
        "utf-8", "surrogateescape"), sound(), used(), clips()),
    Kind("non_utf8_folder", os.path.join(
        b"dir-\xfe".decode("utf-8", "surrogateescape"), "inside.wav"),
         sound(), used(), clips()),
    Kind("newline_in_name", "line\nbreak.wav", sound(), used(), clips()),
    Kind("unicode_name", "\u00e9t\u00e9 \U0001F3B5 \u4e2d.flac",
         sound(fmt="FLAC"), used(), clips()),
    Kind("folder_named_like_a_wav", "folder.wav", folder, FOLDER, FOLDER),
    Kind("folder_named_like_an_mp4", "folder.mp4", folder, FOLDER, FOLDER),
    Kind("file_in_folder_named_like_a_file",
         os.path.join("folder.wav", "inside.wav"), sound(), used(), clips()),
    Kind("symlink_to_good_file", "link.wav", symlink_to("pcm16_16k_mono.wav"),
         used(), clips()),
    Kind("file_in_linked_folder", os.path.join("linked", "inside.wav"),
         linked_folder_with(sound()), used(), clips()),
    Kind("link_loop_to_corpus_root", "loop_dir", symlink_to("."),
         LINKED_AGAIN, LINKED_AGAIN),
    Kind("second_link_to_a_folder", "zz_link_to_folder_wav",
         symlink_to("folder.wav"), LINKED_AGAIN, LINKED_AGAIN),
    Kind("dangling_symlink", "dangling.wav", symlink_to("does_not_exist.wav"),
         skip("unreadable"), skip("unreadable")),
    Kind("symlink_loop", "loop.wav", symlink_to("loop.wav"),
         skip("unreadable"), skip("unreadable")),
    Kind("fifo_named_wav", "pipe.wav", fifo,
         skip("unreadable"), skip("unreadable")),
    Kind("no_read_permission", "mode000.wav", no_read_permission(sound()),
         *NO_PERMISSION),
    Kind("in_folder_without_permission",
         os.path.join("locked", "inside.wav"), in_unreadable_folder(sound()),
         *NO_PERMISSION),
    # Video and audio-video containers (not `files:` inputs).
    Kind("mp4_h264_aac", "clip.mp4", media(), NOT_AUDIO, clips()),
    Kind("mp4_video_without_audio", "silent_film.mp4",
         media(audio_codec=None), NOT_AUDIO, skip("no_audio_track")),
    Kind("mp4_audio_without_video", "audio_only.mp4",
         media(video_codec=None), NOT_AUDIO, clips()),
    Kind("m4a_aac", "tone.m4a", media(video_codec=None, container="mp4"),
         NOT_AUDIO, clips()),
    Kind("mp4_truncated", "cut.mp4", cut(media()), NOT_AUDIO,
         skip("truncated")),
    Kind("mp4_zero_bytes", "zero.mp4", raw_bytes(b""), NOT_AUDIO,
         skip("empty")),
    Kind("mp4_random_bytes", "noise.mp4", random_bytes(5000, 3), NOT_AUDIO,
         skip("unreadable")),
    Kind("webm_vp9_opus", "clip.webm",
         media("libvpx-vp9", "libopus", rate=48000), NOT_AUDIO, clips()),
    Kind("mkv_ffv1_flac_6ch_96k", "clip.mkv",
         media("ffv1", "flac", rate=96000, channels=6), NOT_AUDIO, clips()),
    Kind("mov_mpeg4_pcm", "clip.mov", media("mpeg4", "pcm_s16le"),
         NOT_AUDIO, clips()),
    Kind("avi_mpeg4_mp3", "clip.avi", media("mpeg4", "libmp3lame"),
         NOT_AUDIO, clips()),
    Kind("mp4_8k_mono_audio", "narrowband.mp4",
         media(rate=8000, channels=1), NOT_AUDIO, clips()),
    Kind("mp4_extreme_aspect_ratio", "tall.mp4", media(size=(16, 128)),
         NOT_AUDIO, clips()),
    Kind("mp4_single_video_frame", "one_frame.mp4", media(video_frames=1),
         NOT_AUDIO, clips()),
    Kind("mp4_audio_shorter_than_clip", "short_audio.mp4",
         media(audio_seconds=1.0), NOT_AUDIO, skip("too_short")),
    Kind("mkv_audio_track_without_samples", "empty_track.mkv",
         media(audio_packets=False, container="matroska"), NOT_AUDIO,
         skip("empty")),
    Kind("mov_nan_audio", "nan.mov", media(
        "mpeg4", "pcm_f32le", rate=16000, channels=1, signal=np.where(
            np.arange(int(SECONDS * 16000))[:, None] % 1000 == 0, np.nan,
            tone())), NOT_AUDIO, skip("non_finite")),
    Kind("mp4_named_mkv", "really_mp4.mkv", media(container="mp4"),
         NOT_AUDIO, clips()),
]


def make_corpus(root):
  """Writes every kind under `root` (in order); returns KINDS."""
  root = os.fspath(root)
  kind_paths = {k.path for k in KINDS}
  for kind in KINDS:
    parent = os.path.dirname(kind.path)
    if parent and parent not in kind_paths and (
        kind.name != "file_in_linked_folder"):
      os.makedirs(os.path.join(root, parent), exist_ok=True)
  # Locked folders last: nothing can be written into them afterwards.
  locked_last = sorted(
      KINDS, key=lambda k: k.name == "in_folder_without_permission")
  for kind in locked_last:
    kind.make(os.path.join(root, kind.path))
  return KINDS


def unlock(root):
  """Gives back permissions so that the corpus can be deleted."""
  for kind in KINDS:
    path = os.path.join(os.fspath(root), kind.path)
    if kind.name == "in_folder_without_permission":
      os.chmod(os.path.dirname(path), stat.S_IRWXU)
    elif kind.name == "no_read_permission":
      os.chmod(path, stat.S_IRUSR | stat.S_IWUSR)
