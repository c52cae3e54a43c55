"""The flags and error handling every training command shares."""

import os
import re
import sys

from absl import flags
from ml_collections import config_flags
import tensorflow as tf

from common.data import data_sources
from common.io import command_help
from common.io import folder_lock
from common.io import state_files
from common.train import callbacks
from common.train import distribute
from common.train import trainer

FLAGS = flags.FLAGS

# Errors that are the user's input or machine, reported in one line.
USER_ERRORS = (distribute.StrategyError, data_sources.NoUsableData,
               callbacks.TrainingDiverged, folder_lock.FolderBusy,
               state_files.WriteFailed, trainer.DamagedInput, ValueError,
               FileNotFoundError)
# How a dead or unreachable worker surfaces in the others' collective ops
# (a reset connection at once; a frozen one when the coordination service
# misses its heartbeats, about 10 s here).
CLUSTER_ERRORS = (tf.errors.UnavailableError, tf.errors.DeadlineExceededError,
                  tf.errors.AbortedError)


def _cause(error):
  """The lines of a TensorFlow error that say what happened (its message
  starts with the graph's stack), as one line."""
  lines = []
  for line in str(error.message).splitlines():
    line = re.sub(r"\{\{[^}]*\}\}\s*", "", line).strip()  # {{node ...}}
    if line and not line.startswith(("Graph execution error", "Detected at",
                                     "File ", "[[", "<stack")):
      lines.append(line)
  if not lines:
    return type(error).__name__
  if lines[0].endswith(":") and len(lines) > 1:  # "...unhealthy: <tasks>"
    return f"{lines[0]} {lines[1]}"
  return lines[0]


def define_train_flags(default_config, default_workdir):
  try:
    # ml_collections loads the default config and applies the command
    # line's --config.KEY=VALUE overrides here, at definition.
    config_flags.DEFINE_config_file(
        "config", default_config, "Config file (a Python file with "
        "get_config()); override values with --config.KEY=VALUE.")
  except (AttributeError, KeyError, TypeError, ValueError) as e:
    _override_error(sys.argv, e)
  flags.DEFINE_string("data", None, "Data source: synthetic[:N], "
                      "files:DIR_OR_GLOB, files:LIST.csv, tfds:NAME[:SPLIT], "
                      "tfrecord:DIR_OR_GLOB (shards of multimodal.prepare). "
                      "Default: the config's `data`.")
  flags.DEFINE_enum("strategy", "cpu", list(distribute.STRATEGIES),
                    "tf.distribute strategy.")
  flags.DEFINE_string("workdir", default_workdir, "Where checkpoints, logs, "
                      "the SavedModel and summaries go. Rerunning the same "
                      "command resumes from the last checkpoint.")
  flags.DEFINE_integer("cpu_devices", 2, "Logical CPU devices for "
                       "--strategy=mirrored on a machine without GPUs.")
  flags.DEFINE_string("tpu", "", "TPU name or address for --strategy=tpu.")


def define_method_flags(train_file):
  """The training flags of a method package's `train.py` (its __file__):
  the default config is the package's configs/default.py, the default
  workdir runs/PACKAGE."""
  package = os.path.dirname(os.path.abspath(train_file))
  define_train_flags(os.path.join(package, "configs", "default.py"),
                     os.path.join("runs", os.path.basename(package)))


def parse_flags(argv):
  """absl's parser, with a `--config.KEY=VALUE` that names no key or does
  not parse as the key's type reported in one line (exit 2), not as a
  traceback from ml_collections."""
  if any(a in command_help.HELP_FLAGS for a in argv[1:]):
    main_module = sys.modules.get("__main__")
    command_help.print_help((main_module.__doc__ or "") if main_module else "",
                            [__name__])
    sys.exit(0)
  try:
    return FLAGS(argv)
  except flags.Error as e:
    print(f"error: {e} (--helpfull lists the flags)", file=sys.stderr)
    sys.exit(2)
  except (AttributeError, KeyError, TypeError, ValueError) as e:
    _override_error(argv, e)


def _override_error(argv, error):
  """A --config.KEY=VALUE that names no key or does not parse, in one line
  (exit 2): `no config key 'similarty' (did you mean "similarity"?)`."""
  overrides = " ".join(a for a in argv[1:] if a.startswith("--config."))
  text = str(error)
  if isinstance(error, (AttributeError, KeyError)):
    # ml_collections' message is a repr of "'key'\nDid you mean ...?".
    text = text.encode().decode("unicode_escape").strip("'\"")
    key, _, hint = text.partition("\n")
    why = f"no config key {key.strip(chr(39))!r}" + (
        f" ({hint.strip()[0].lower()}{hint.strip()[1:]})" if hint.strip()
        else "")
  else:
    why = text
  print(f"error: cannot apply {overrides or '--config'}: {why} (the "
        "README's config table lists the keys)", file=sys.stderr)
  sys.exit(2)


def _config_or_exit():
  """FLAGS.config, or one line naming the --config file that did not load."""
  try:
    config = FLAGS.config
    config.get("method")  # A config file that failed to load raises here.
    return config
  except (OSError, ImportError, AttributeError, SyntaxError) as e:
    path = next((a.split("=", 1)[1] for a in sys.argv[1:]
                 if a.startswith("--config=")), "--config")
    reason = ("no such file" if not os.path.exists(path) else
              "it does not load as a config file with get_config()")
    print(f"error: --config={path}: {reason} ({type(e).__name__})",
          file=sys.stderr)
    sys.exit(2)


def run_training(_):
  try:
    config = _config_or_exit()
    summary = trainer.train(
        config, data_spec=FLAGS.data, strategy_name=FLAGS.strategy,
        workdir=FLAGS.workdir, cpu_devices=FLAGS.cpu_devices, tpu=FLAGS.tpu,
        verbose=1 if sys.stdout.isatty() else 2)
  except USER_ERRORS as e:
    print(f"error: {e}", file=sys.stderr)
    if isinstance(e, state_files.WriteFailed):
      # HDF5 keeps a file whose write failed half-open and crashes the
      # interpreter's shutdown on it (a segfault after the error line):
      # everything this process wrote is flushed, so it ends here.
      sys.stdout.flush()
      sys.stderr.flush()
      os._exit(1)
    sys.exit(1)
  except CLUSTER_ERRORS as e:
    if FLAGS.strategy != "multi_worker":
      raise
    message = (f"a worker of the cluster failed or cannot be reached "
               f"({type(e).__name__}: {_cause(e)}); start every worker again "
               "with the same command to resume from the last checkpoint")
    print(f"error: {message}", file=sys.stderr)
    sys.exit(1)
  metrics = ", ".join(f"{k}={v:.4f}" for k, v in
                      summary["final_metrics"].items())
  print(f"done: {summary['steps']} steps ({metrics or 'already complete'}); "
        f"SavedModel at {summary['saved_model']}")
