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

KINDS = ("harmonic", "chirp", "band_noise", "clicks", "am_tone", "bursts")
NUM_KINDS = len(KINDS)


@dataclasses.dataclass
class Clip:
  audio: np.ndarray     # float32 [samples] in [-1, 1]
  label: int            # index into KINDS
  envelope: np.ndarray  # float32 [samples] in [0, 1], the source's loudness
  pitch: float          # a characteristic frequency of the source, Hz


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
  n = int(round(seconds * sample_rate))
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
  audio = rng.uniform(0.2, 0.9) * source + background
  audio = np.clip(audio, -1, 1).astype(np.float32)
  return Clip(audio, kind, envelope.astype(np.float32), pitch)


def make_clips(num_clips, seed=0, seconds=2.0, sample_rate=16000):
  """`num_clips` clips, the same for the same seed; kinds balanced."""
  rng = np.random.default_rng(seed)
  kinds = rng.permutation(np.arange(num_clips) % NUM_KINDS)
  return [make_clip(rng, seconds, sample_rate, kind) for kind in kinds]
