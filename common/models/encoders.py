"""Encoders, looked up by name, for each input format.

Every encoder maps a batch of one format to one vector per example, h = f(x):
the representation that is transferred downstream.

  log-mel   [batch, time, mel, 1]              mel_encoders.py
  waveform  [batch, samples]                   waveform_encoders.py
  video     [batch, frames, height, width, 3]  video_encoders.py
            (pixel values in [0, 255])

All of them share one registry (registry.ENCODERS), so a config names any
encoder the same way: `--config.encoder=NAME` and its options in
`--config.encoder_kwargs` (multimodal: `mel_encoder`, `wave_encoder`,
`video_encoder` and their `*_kwargs`). An option the encoder does not take
is an error that lists the options it does take.
"""

from typing import Any, Dict, List, Sequence

import keras

from common.models import mel_encoders  # noqa: F401  (registers its own)
from common.models import registry
from common.models import video_encoders  # noqa: F401
from common.models import waveform_encoders  # noqa: F401


def names() -> List[str]:
  """Every encoder's name."""
  return registry.ENCODERS.names()


def options(name: str) -> Dict[str, Any]:
  """Encoder `name`'s options and their defaults.

  Raises:
    ValueError: no encoder has that name.
  """
  return registry.ENCODERS.options(name, positional=1)


def check_options(name: str, kwargs: Dict[str, Any]) -> None:
  """Raises ValueError for an unknown encoder or an option it does not take."""
  registry.ENCODERS.check_options(name, dict(kwargs), positional=1)


def build(name: str, input_shape: Sequence[int], **kwargs: Any
          ) -> keras.Model:
  """Builds encoder `name`.

  Args:
    name: a registered encoder (`names()`).
    input_shape: one example's shape, without the batch dimension.
    **kwargs: the encoder's options (`options(name)`).

  Returns:
    A keras.Model mapping [batch, *input_shape] to [batch, D].

  Raises:
    ValueError: an unknown encoder, or an option it does not take.
  """
  check_options(name, kwargs)
  return registry.ENCODERS.lookup(name)(tuple(input_shape), **kwargs)
