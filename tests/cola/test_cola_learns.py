"""COLA learns on the embedded default: contrastive accuracy far above
chance, and a linear probe on the frozen pre-trained encoder beats the same
encoder at random initialisation on a task held out from pre-training.

The random encoder is the same run for 0 steps (same seed, so the same
initial weights, and the same data statistics in its frontend), exported
the same way; benchmarks/quality.py measures the gain on real audio."""

import json

import pytest
import tensorflow as tf

from cola.configs import default
from common.data import data_sources
from common.eval import downstream

STEPS = 200  # Two epochs (it said 150, and Keras rounded up to 200).


@pytest.mark.slow
def test_pretraining_beats_random_init_on_a_held_out_probe(tmp_path):
  from common.train import trainer
  config = default.get_config()
  config.total_steps = STEPS
  summary = trainer.train(config, workdir=str(tmp_path / "run"), verbose=0)
  accuracy = summary["final_metrics"]["contrastive_accuracy"]
  chance = 1 / config.batch_size
  assert accuracy > 20 * chance, accuracy  # chance is 1/64

  # Held out: other seeds than pre-training's clips; labels never seen.
  train = data_sources.synthetic_bank(300, split="validation")
  test = data_sources.synthetic_bank(300, split="test")
  config.total_steps = 0
  random_init = trainer.train(config, workdir=str(tmp_path / "random"),
                               verbose=0)
  encoders = {name: downstream.SavedModelEncoder(
      tf.saved_model.load(run["saved_model"]))
              for name, run in (("pretrained", summary),
                                ("random", random_init))}
  results = {}
  for name, encoder in encoders.items():
    results[name] = downstream.linear_probe(
        downstream.clip_embeddings(encoder, train.waveforms), train.labels,
        downstream.clip_embeddings(encoder, test.waveforms), test.labels,
        num_classes=train.num_classes)
  print(json.dumps({"contrastive_accuracy": accuracy, **results}))
  assert results["pretrained"] > results["random"], results

