"""The strategies the distributed-equivalence tests share.

One MirroredStrategy per process: separate instances in one process can
collide in the collective-op runtime (conftest.py splits the CPU into two
logical devices)."""

import tensorflow as tf

MIRRORED = tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"])
ONE_DEVICE = tf.distribute.OneDeviceStrategy("/cpu:0")
