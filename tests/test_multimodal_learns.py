"""Multimodal pre-training learns on the embedded default: every pair's
contrastive accuracy far above chance, and an audio-only linear probe on the
frozen exported encoder beats the same encoder at random initialisation (the
same run for 0 steps: same initial weights, same data statistics) on clips
and labels that pre-training never saw (multimodal/compare.py has the
full comparison, with COLA; docs/multimodal.md its numbers)."""

import json

import numpy as np
import pytest

from common import probe
from multimodal import compare
from multimodal.configs import default

STEPS = 200


@pytest.mark.slow
def test_pretraining_beats_random_init_on_a_held_out_probe(tmp_path):
  from common import training
  config = default.get_config()
  config.total_steps = STEPS
  config.steps_per_epoch = 50
  summary = training.train(config, workdir=str(tmp_path / "run"), verbose=0)
  metrics = summary["final_metrics"]
  chance = 1 / config.batch_size
  for pair in ("wave_mel", "wave_video", "mel_video"):
    assert metrics[f"{pair}_accuracy"] > 10 * chance, metrics

  config.total_steps = 0
  random_init = training.train(config, workdir=str(tmp_path / "random"),
                               verbose=0)
  accuracy = compare.probe_all(
      {name: probe.saved_model_encoder(run["saved_model"])
       for name, run in (("pretrained", summary), ("random", random_init))},
      compare.probe_set(150, "validation"), compare.probe_set(150, "test"))
  print(json.dumps({"final_metrics": metrics, **accuracy}))
  # Both tasks together: one of them alone moves by a few clips between
  # runs (crops and mixing are not seeded), the mean by less.
  mean = {k: np.mean([v[t] for t in compare.TASKS])
          for k, v in accuracy.items()}
  assert mean["pretrained"] > mean["random"] + 0.02, accuracy

