"""Canaries for the private Keras and TensorFlow names the project still
uses (docs/layout.md says why each has no public replacement). Each fails
with a message naming the name and the code that needs it, so a Keras or
TensorFlow upgrade that removes one is found here, not in a training run.
Checked on Keras 3.15.1 and TensorFlow 2.21.0 (pyproject: keras>=3.10,<4).
"""

import glob
import os

import keras
import numpy as np
import pytest
import tensorflow as tf


def _tiny_model():
  inputs = keras.Input([3])
  model = keras.Model(inputs, keras.layers.Dense(2)(inputs))
  model.compile(optimizer="sgd", loss="mse")
  return model


def test_fit_still_builds_through_maybe_symbolic_build():
  model = _tiny_model()
  if not hasattr(model, "_maybe_symbolic_build"):
    pytest.fail(f"Keras {keras.__version__} has no Model._maybe_symbolic_build"
                ": common/train/method.py's multi-worker workaround skips it "
                "(keras-team/keras#20329); find what fit calls now")
  calls = []
  model._maybe_symbolic_build = lambda *a, **k: calls.append(1)  # pylint: disable=protected-access
  model.fit(np.zeros([4, 3]), np.zeros([4, 2]), epochs=1, verbose=0)
  assert calls, (f"Keras {keras.__version__}'s fit no longer calls "
                 "_maybe_symbolic_build: common/train/method.py's "
                 "multi-worker workaround does nothing")


def test_tensorboard_still_has_its_writers(tmp_path):
  board = keras.callbacks.TensorBoard(str(tmp_path))
  board.set_model(_tiny_model())
  board.on_train_begin()
  for name in ("_train_writer", "_writers"):
    if not hasattr(board, name):
      pytest.fail(f"Keras {keras.__version__}'s TensorBoard has no {name}: "
                  "common/train/callbacks.py DurableTensorBoard writes and "
                  "flushes through it")
  assert hasattr(board._train_writer, "as_default")  # pylint: disable=protected-access
  assert isinstance(board._writers, dict)  # pylint: disable=protected-access


def test_import_event_still_writes_a_raw_event(tmp_path):
  try:
    from tensorflow.python.ops import summary_ops_v2  # pylint: disable=g-direct-tensorflow-import
  except ImportError as e:
    pytest.fail(f"TensorFlow {tf.__version__}: {e}; common/train/callbacks.py "
                "writes the SessionLog START event with it")
  from tensorflow.core.util import event_pb2
  writer = tf.summary.create_file_writer(str(tmp_path))
  event = event_pb2.Event(step=3, session_log=event_pb2.SessionLog(
      status=event_pb2.SessionLog.START))
  with writer.as_default():
    summary_ops_v2.import_event(tf.constant(event.SerializeToString()))
  writer.flush()
  files = glob.glob(os.path.join(str(tmp_path), "events.out.tfevents.*"))
  read = [event_pb2.Event.FromString(r.numpy())
          for r in tf.data.TFRecordDataset(files)]
  assert any(e.session_log.status == event_pb2.SessionLog.START and
             e.step == 3 for e in read)
