"""The embedded default data set: procedurally generated sound events.

No download: every clip is made from a seed. Each clip holds one sound
source of one of `NUM_KINDS` kinds (harmonic tone, chirp, band noise, click
train, amplitude-modulated tone, noise bursts), drawn with its own random
parameters (pitch, timbre, rate, band, onsets), over a little background
noise. Two crops of the same clip share the source's parameters, so telling
a clip's crop apart from the other clips of a batch is learnable; the kind
is a label for downstream probes. Each clip also carries its amplitude
envelope and its parameters, which the audio-visual generator uses to draw
frames that tell something about what is heard.
"""

import dataclasses

import numpy as np

from common.io import audio_io

KINDS = ("harmonic", "chirp", "band_noise", "clicks", "am_tone", "bursts")
NUM_KINDS = len(KINDS)


@dataclasses.dataclass
class Clip:
  audio: np.ndarray     # float32 [samples] in [-1, 1]
  label: int            # index into KINDS
  envelope: np.ndarray  # float32 [samples] in [0, 1], the source's loudness
  pitch: float          # a characteristic frequency of the source, Hz
  gain: float = 1.0     # the source's level in the mix (loudness)


def _log_uniform(rng, low, high):
  return float(np.exp(rng.uniform(np.log(low), np.log(high))))


def _band_noise(rng, n, sample_rate, centre, bandwidth):
  spectrum = np.fft.rfft(rng.standard_normal(n))
  freqs = np.fft.rfftfreq(n, 1.0 / sample_rate)
  spectrum *= np.exp(-0.5 * ((freqs - centre) / (bandwidth / 2)) ** 2)
  noise = np.fft.irfft(spectrum, n)
  return noise / (np.abs(noise).max() + 1e-9)


def _onsets_envelope(rng, n, sample_rate, rate_hz, decay_s):
  """Sum of exponentially decaying events at jittered onsets."""
  t = np.arange(n) / sample_rate
  period = 1.0 / rate_hz
  onsets = np.arange(rng.uniform(0, period), t[-1], period)
  onsets = onsets + rng.uniform(-0.1, 0.1, onsets.shape) * period
  envelope = np.zeros(n)
  for onset in onsets:
    after = t >= onset
    envelope[after] = np.maximum(
        envelope[after], np.exp(-(t[after] - onset) / decay_s))
  return envelope


def make_clip(rng, seconds=2.0, sample_rate=16000, kind=None):
  """One clip with a random source of `kind` (random kind if None)."""
  n = audio_io.seconds_to_samples(seconds, sample_rate)
  t = np.arange(n) / sample_rate
  kind = int(rng.integers(NUM_KINDS)) if kind is None else int(kind)
  name = KINDS[kind]
  envelope = np.ones(n)
  if name == "harmonic":
    pitch = _log_uniform(rng, 110, 880)
    vibrato = 1 + 0.01 * np.sin(2 * np.pi * rng.uniform(3, 7) * t)
    phase = 2 * np.pi * pitch * np.cumsum(vibrato) / sample_rate
    decay = rng.uniform(0.3, 0.9)
    source = sum(decay**h * np.sin((h + 1) * phase)
                 for h in range(int(rng.integers(1, 7))))
  elif name == "chirp":
    low, high = _log_uniform(rng, 150, 600), _log_uniform(rng, 1200, 5000)
    sweep_s = rng.uniform(0.25, 1.0)
    position = (t % sweep_s) / sweep_s
    if rng.random() < 0.5:
      position = 1 - position
    freq = low * (high / low) ** position
    pitch = float(np.sqrt(low * high))
    source = np.sin(2 * np.pi * np.cumsum(freq) / sample_rate)
  elif name == "band_noise":
    pitch = _log_uniform(rng, 200, 6000)
    source = _band_noise(rng, n, sample_rate, pitch, pitch * rng.uniform(
        0.1, 0.5))
  elif name == "clicks":
    pitch = _log_uniform(rng, 500, 5000)
    envelope = _onsets_envelope(rng, n, sample_rate, rng.uniform(3, 15),
                                rng.uniform(0.005, 0.02))
    source = np.sin(2 * np.pi * pitch * t)
  elif name == "am_tone":
    pitch = _log_uniform(rng, 200, 2000)
    rate = rng.uniform(2, 12)
    envelope = 0.5 * (1 + np.sin(2 * np.pi * rate * t + rng.uniform(0, 6)))
    source = np.sin(2 * np.pi * pitch * t)
  else:  # bursts
    pitch = _log_uniform(rng, 300, 4000)
    envelope = _onsets_envelope(rng, n, sample_rate, rng.uniform(1, 4),
                                rng.uniform(0.05, 0.2))
    source = _band_noise(rng, n, sample_rate, pitch, pitch)
  source = envelope * source / (np.abs(source).max() + 1e-9)
  background = 10 ** (rng.uniform(-3, -1.5)) * rng.standard_normal(n)
  gain = float(rng.uniform(0.2, 0.9))
  audio = np.clip(gain * source + background, -1, 1).astype(np.float32)
  return Clip(audio, kind, envelope.astype(np.float32), pitch, gain)


def make_clips(num_clips, seed=0, seconds=2.0, sample_rate=16000):
  """`num_clips` clips, the same for the same seed; kinds balanced."""
  rng = np.random.default_rng(seed)
  kinds = rng.permutation(np.arange(num_clips) % NUM_KINDS)
  return [make_clip(rng, seconds, sample_rate, kind) for kind in kinds]


# Video: one object per clip whose look follows the sound. Shape and hue
# name the kind; height is the pitch (low sounds low on screen); size follows
# the loudness envelope over each frame's interval and brightness its peak, so
# onsets flash; the overall level sets the object's saturation. The background
# colour and the object's horizontal drift carry no audio information: they
# are distractors an encoder has to ignore.
SHAPES = ("disc", "triangle", "square", "cross", "ring", "diamond")
HUES = ((1.0, 0.25, 0.2), (1.0, 0.85, 0.1), (0.3, 0.95, 0.3),
        (0.2, 0.9, 1.0), (0.35, 0.4, 1.0), (1.0, 0.3, 0.95))
PITCH_RANGE_HZ = (100.0, 6000.0)


def _shape_distance(name, dx, dy, r):
  """Signed distance (in image units) from the shape's edge; < 0 inside."""
  if name == "disc":
    return np.hypot(dx, dy) - r
  if name == "square":
    return np.maximum(np.abs(dx), np.abs(dy)) - 0.8 * r
  if name == "diamond":
    return (np.abs(dx) + np.abs(dy)) / np.sqrt(2) - 0.75 * r
  if name == "ring":
    return np.abs(np.hypot(dx, dy) - 0.75 * r) - 0.25 * r
  if name == "cross":
    arm = 0.3 * r
    return np.minimum(np.maximum(np.abs(dx) - arm, np.abs(dy) - r),
                      np.maximum(np.abs(dy) - arm, np.abs(dx) - r))
  # Triangle pointing up (image y grows downwards): the base and two sides.
  return np.maximum(dy - 0.7 * r, (np.abs(dx) * 2 - (dy + r)) / np.sqrt(5))


def pitch_height(pitch):
  """Vertical position in [0.15, 0.85] of the image, high pitch at the top."""
  low, high = np.log(PITCH_RANGE_HZ)
  share = np.clip((np.log(pitch) - low) / (high - low), 0, 1)
  return 0.85 - 0.7 * share


def render_frames(clip, fps=8.0, resolution=32, seed=0, sample_rate=16000):
  """Frames of `clip` at `fps`: uint8 [T, resolution, resolution, 3].

  Frame k shows the interval [k / fps, (k + 1) / fps) of the sound. `seed`
  draws the distractors (background, drift), not what the sound decides.
  """
  rng = np.random.default_rng(seed)
  count = int(np.floor(clip.audio.size / sample_rate * fps + 1e-9))
  edges = np.round(np.arange(count + 1) * sample_rate / fps).astype(int)
  loudness = np.array([clip.envelope[a:b].mean() for a, b in
                       zip(edges[:-1], edges[1:])])
  peak = np.array([clip.envelope[a:b].max() for a, b in
                   zip(edges[:-1], edges[1:])])
  grid = (np.arange(resolution) + 0.5) / resolution
  y, x = grid[:, None], grid[None, :]
  start, speed = rng.uniform(0.2, 0.8), rng.uniform(-0.15, 0.15)
  centres_x = 0.2 + np.abs((start + speed * np.arange(count) / fps - 0.2)
                           % 1.2 - 0.6)  # Bounces between 0.2 and 0.8.
  centre_y = pitch_height(clip.pitch)
  background = rng.uniform(0.0, 0.3, 3)
  texture = rng.normal(0, 0.03, [resolution, resolution, 1])
  hue = np.array(HUES[clip.label])
  level = 0.4 + 0.6 * (clip.gain - 0.2) / 0.7  # 0.4 quiet .. 1.0 loud
  colour = level * hue + (1 - level) * hue.mean()
  frames = np.empty([count, resolution, resolution, 3], np.float32)
  for k in range(count):
    radius = 0.08 + 0.08 * loudness[k]
    distance = _shape_distance(SHAPES[clip.label], x - centres_x[k],
                               y - centre_y, radius)
    # One pixel of anti-aliasing: size changes show at low resolution.
    alpha = np.clip(0.5 - distance * resolution, 0, 1)[..., None]
    brightness = 0.45 + 0.55 * peak[k]
    frames[k] = (1 - alpha) * (background + texture) + (
        alpha * brightness * colour)
  noise = rng.normal(0, 0.01, frames.shape)
  return np.round(np.clip(frames + noise, 0, 1) * 255).astype(np.uint8)
