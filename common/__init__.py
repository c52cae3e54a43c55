"""The shared training path, data, models, export and evaluation."""

from common.io import quiet as _quiet

_quiet.apply()
