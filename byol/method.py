"""BYOL's plug-in to the common training path (common/train/method.py)."""

from byol import data
from byol import model as model_lib


def build_model(config):
  return model_lib.Byol(config)


def build_dataset(config, data_spec, batch_size):
  return data.build_dataset(config, data_spec, batch_size)
