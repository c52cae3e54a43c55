"""COLA learns on the embedded default: contrastive accuracy far above
chance, and a linear probe on the frozen pre-trained encoder beats the same
encoder at random initialisation on a task held out from pre-training."""

import json

import keras
import pytest
import tensorflow as tf

from cola import model as cola_model
from cola.configs import default
from common import data_sources
from common import probe

STEPS = 300


@pytest.mark.slow
def test_pretraining_beats_random_init_on_a_held_out_probe(tmp_path):
  from common import training
  config = default.get_config()
  config.total_steps = STEPS
  summary = training.train(config, workdir=str(tmp_path / "run"), verbose=0)
  accuracy = summary["final_metrics"]["contrastive_accuracy"]
  chance = 1 / config.batch_size
  assert accuracy > 20 * chance, accuracy  # chance is 1/64

  # Held out: other seeds than pre-training's clips; labels never seen.
  train = data_sources.synthetic_bank(300, split="validation")
  test = data_sources.synthetic_bank(300, split="test")
  pretrained = tf.saved_model.load(summary["saved_model"]).signatures[
      "serving_default"]
  keras.utils.set_random_seed(1)
  random_model = cola_model.Cola(config)
  random_model.initialize()
  encoders = {
      "pretrained": lambda x, training=False: pretrained(waveform=x)[
          "embedding"],
      "random": tf.function(lambda x, training=False: random_model(x)),
  }
  results = {}
  for name, encoder in encoders.items():
    results[name] = probe.linear_probe(
        probe.clip_embeddings(encoder, train.waveforms), train.labels,
        probe.clip_embeddings(encoder, test.waveforms), test.labels,
        num_classes=train.num_classes)
  print(json.dumps({"contrastive_accuracy": accuracy, **results}))
  assert results["pretrained"] > results["random"], results
