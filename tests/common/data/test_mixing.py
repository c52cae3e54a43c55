"""common/data/mixing.py: every mixed example stays dominated by its own content,
partners are other examples, and mixing off leaves the batch untouched."""

import numpy as np
import pytest
import tensorflow as tf

from common.data import mixing

N = 16


def orthogonal_batch(samples=64, levels=None):
  """Example i is a bump on its own samples only: mixes can be unpicked."""
  audio = np.zeros([N, samples], np.float32)
  width = samples // N
  for i in range(N):
    audio[i, i * width:(i + 1) * width] = 1.0 if levels is None else levels[i]
  frames = np.zeros([N, 2, 4, N, 3], np.uint8)
  for i in range(N):
    frames[i, ..., i, :] = 200
  return {"audio": tf.constant(audio), "frames": tf.constant(frames),
          "has_video": tf.ones([N])}


def weights(mixed, original):
  """Coefficient of each original example in each mixed one: [N, N]."""
  mixed = np.asarray(mixed, np.float64).reshape(N, -1)
  original = np.asarray(original, np.float64).reshape(N, -1)
  return np.linalg.lstsq(original.T, mixed.T, rcond=None)[0].T


@pytest.mark.parametrize("distribution", mixing.DISTRIBUTIONS)
@pytest.mark.parametrize("partners", mixing.PARTNERS)
def test_every_mixed_example_is_dominated_by_its_own_content(distribution,
                                                             partners):
  tf.random.set_seed(0)
  config = mixing.mixing_config(distribution=distribution, partners=partners,
                                min_ratio=0.1, max_ratio=0.45)
  batch = orthogonal_batch()
  for _ in range(5):
    mixed = mixing.mix_batch(batch, config)
    for key in ("audio", "frames"):
      w = weights(mixed[key], batch[key])
      own = np.diag(w)
      others = w - np.diag(own)
      # Own share in [1 - max, 1 - min]; exactly one other example, the
      # rest (frames: up to rounding to uint8) zero.
      assert np.all(own >= 1 - 0.45 - 0.01) and np.all(own <= 0.9 + 0.01)
      assert np.all(own > others.max(axis=1))
      np.testing.assert_allclose(own + others.sum(axis=1), 1, atol=0.01)
      assert np.all((np.abs(others) > 0.02).sum(axis=1) == 1)


def test_same_partners_mix_sound_and_picture_of_the_same_clip():
  tf.random.set_seed(1)
  batch = orthogonal_batch()
  same = mixing.mix_batch(batch, mixing.mixing_config(partners="same"))
  partner = {k: np.argmax(weights(same[k], batch[k]) - np.eye(N) * 9, 1)
             for k in ("audio", "frames")}
  np.testing.assert_array_equal(partner["audio"], partner["frames"])
  independent = mixing.mix_batch(
      batch, mixing.mixing_config(partners="independent"))
  partner = {k: np.argmax(weights(independent[k], batch[k]) - np.eye(N) * 9,
                          1) for k in ("audio", "frames")}
  assert np.any(partner["audio"] != partner["frames"])


def test_mixing_off_gives_identical_inputs():
  batch = orthogonal_batch()
  off = mixing.mix_batch(batch, mixing.mixing_config(enabled=False))
  for key in batch:
    np.testing.assert_array_equal(off[key].numpy(), batch[key].numpy())
  none = mixing.mix_batch(batch, mixing.mixing_config(modalities=()))
  for key in batch:
    np.testing.assert_array_equal(none[key].numpy(), batch[key].numpy())


def test_only_the_named_modalities_are_mixed():
  batch = orthogonal_batch()
  mixed = mixing.mix_batch(batch, mixing.mixing_config(
      modalities=("frames",), distribution="constant"))
  np.testing.assert_array_equal(mixed["audio"].numpy(),
                                batch["audio"].numpy())
  np.testing.assert_array_equal(mixed["has_video"].numpy(),
                                batch["has_video"].numpy())
  assert np.any(mixed["frames"].numpy() != batch["frames"].numpy())


def test_level_matching_makes_the_ratio_a_share_of_energy():
  levels = np.geomspace(0.1, 1.0, N).astype(np.float32)
  levels[0] = 0.01  # One very quiet clip.
  batch = orthogonal_batch(levels=levels)
  config = mixing.mixing_config(distribution="constant", max_ratio=0.4)
  mixed = mixing.mix_batch(batch, config)["audio"].numpy()
  width = mixed.shape[1] // N
  for i in range(N):
    own = np.abs(mixed[i, i * width:(i + 1) * width]).max()
    other = np.abs(np.delete(mixed[i].reshape(N, width), i, 0)).max()
    np.testing.assert_allclose(own, 0.6 * levels[i], rtol=1e-5)
    np.testing.assert_allclose(other, 0.4 * levels[i], rtol=1e-5)
  raw = mixing.mix_batch(batch, mixing.mixing_config(
      distribution="constant", max_ratio=0.4, match_level=()))["audio"]
  # Without it, the quiet clip is drowned by any of its louder partners.
  own = np.abs(raw.numpy()[0, :width]).max()
  assert np.abs(raw.numpy()[0]).max() > 2 * own


def test_probability_leaves_some_examples_unmixed():
  tf.random.set_seed(2)
  batch = orthogonal_batch()
  mixed = mixing.mix_batch(batch, mixing.mixing_config(
      probability=0.5, min_ratio=0.2, max_ratio=0.3))
  own = np.diag(weights(mixed["audio"], batch["audio"]))
  assert 0 < np.sum(np.isclose(own, 1.0)) < N


def test_partners_without_frames_are_not_mixed_into_frames():
  batch = orthogonal_batch()
  has_video = np.zeros([N], bool)
  has_video[0] = True  # Only example 0 has a picture to lend.
  mixed = mixing.mix_batch(batch, mixing.mixing_config(
      distribution="constant"), has_content={"frames": tf.constant(has_video)})
  w = weights(mixed["frames"], batch["frames"])
  lent = np.abs(w - np.diag(np.diag(w))).sum(axis=1) > 0.02
  assert lent[0] == False  # noqa: E712 (it cannot borrow from itself)
  assert np.all(w[lent][:, 0] > 0.3)  # Whoever borrowed, borrowed from 0.


def test_partners_are_never_the_example_itself():
  tf.random.set_seed(3)
  for size in (2, 3, 64):
    partners = mixing.partner_indices(size).numpy()
    assert np.all(partners != np.arange(size))
    assert np.all((partners >= 0) & (partners < size))


@pytest.mark.parametrize("overrides,message", [
    (dict(max_ratio=0.5), "dominated"),
    (dict(min_ratio=0.3, max_ratio=0.2), "min_ratio"),
    (dict(distribution="normal"), "distribution"),
    (dict(partners="all"), "partners"),
])
def test_bad_settings_are_clear_errors(overrides, message):
  with pytest.raises(ValueError, match=message):
    mixing.mix_batch(orthogonal_batch(), mixing.mixing_config(**overrides))


def test_a_modality_the_pipeline_does_not_have_is_a_clear_error():
  # "(audio,frames)" is what a tuple typed without quotes on the command
  # line becomes: one string, which would mix nothing.
  config = mixing.mixing_config(modalities=("(audio,frames)",))
  with pytest.raises(ValueError, match=r"unknown \['\(audio,frames\)'\]"):
    mixing.check_config(config, known=("audio", "frames"))
  mixing.check_config(mixing.mixing_config(), known=("audio", "frames"))
