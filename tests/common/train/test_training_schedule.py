"""The learning rate a config names (common/train/method.learning_rate)."""

import numpy as np
import pytest

from common.train import method as method_lib
from common.train import run_config


def config(**overrides):
  c = run_config.base_config("cola")
  c.update(overrides)
  return c


def rate_at(schedule, step):
  return float(np.asarray(schedule(step)))


def test_constant_schedule_returns_the_float():
  rate = method_lib.learning_rate(config(learning_rate=3e-4))
  assert isinstance(rate, float)
  assert rate == 3e-4


def test_base_config_is_constant():
  assert method_lib.learning_rate(config()) == config().learning_rate


def test_cosine_with_warmup_rises_linearly_then_decays_to_zero():
  schedule = method_lib.learning_rate(config(
      lr_schedule="cosine", warmup_steps=10, total_steps=110,
      learning_rate=1e-3))
  assert not isinstance(schedule, float)
  assert rate_at(schedule, 0) == pytest.approx(0.0, abs=1e-9)
  assert rate_at(schedule, 5) == pytest.approx(5e-4, rel=1e-4)
  assert rate_at(schedule, 10) == pytest.approx(1e-3, rel=1e-5)
  assert rate_at(schedule, 60) == pytest.approx(5e-4, rel=1e-4)
  assert rate_at(schedule, 110) == pytest.approx(0.0, abs=1e-9)


def test_cosine_decay_is_monotone_after_warmup():
  schedule = method_lib.learning_rate(config(
      lr_schedule="cosine", warmup_steps=10, total_steps=110,
      learning_rate=1e-3))
  rates = [rate_at(schedule, s) for s in range(10, 111, 5)]
  assert all(a >= b for a, b in zip(rates, rates[1:]))


def test_cosine_without_warmup_starts_at_the_rate():
  schedule = method_lib.learning_rate(config(
      lr_schedule="cosine", warmup_steps=0, total_steps=100,
      learning_rate=1e-3))
  assert rate_at(schedule, 0) == pytest.approx(1e-3, rel=1e-6)
  assert rate_at(schedule, 50) == pytest.approx(5e-4, rel=1e-4)
  assert rate_at(schedule, 100) == pytest.approx(0.0, abs=1e-9)


def test_unknown_schedule_is_a_value_error():
  with pytest.raises(ValueError, match="lr_schedule"):
    method_lib.learning_rate(config(lr_schedule="linear"))
