"""The multimodal method's plug-in to the common training path
(common/train/trainer.py)."""

from multimodal import data
from multimodal import model as model_lib


def build_model(config):
  return model_lib.Multimodal(config)


def build_dataset(config, data_spec, batch_size):
  return data.build_dataset(config, data_spec, batch_size)
