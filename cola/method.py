"""COLA's plug-in to the common training path (common/train/trainer.py)."""

from cola import data
from cola import model as model_lib


def build_model(config):
  return model_lib.Cola(config)


def build_dataset(config, data_spec, batch_size):
  return data.build_dataset(config, data_spec, batch_size)
