"""`python -m common.export`: a run's last checkpoint -> SavedModel, and
optionally TFLite (float and int8).

  python -m common.export --workdir=WORKDIR [--output=DIR] [--tflite]
      [--tflite_int8 --calibration=files:DIR]

The SavedModel contract is common/serve/export.py's; the TFLite models are
common/serve/tflite.py's. `--tflite` writes `DIR.tflite`, `--tflite_int8`
`DIR.int8.tflite`.
"""

import sys

from absl import app
from absl import flags

from common.io import command_help
from common.io import folder_lock
from common.io import state_files
from common.serve import tflite
from common.train import runs


def main(argv):
  del argv
  try:
    path = runs.export_workdir(flags.FLAGS.workdir, flags.FLAGS.output,
                          flags.FLAGS.weights)
    print(f"SavedModel written to {path}")
    if flags.FLAGS.tflite:
      lite = tflite.convert(path, flags.FLAGS.tflite_output or
                            tflite.default_output(path),
                            flags.FLAGS.tflite_seconds)
      print(f"TFLite model written to {lite}")
    if flags.FLAGS.tflite_int8:
      if not flags.FLAGS.calibration:
        raise ValueError("--tflite_int8 needs --calibration=files:DIR (a "
                         "few hundred clips of your own audio)")
      lite = tflite.convert(path, flags.FLAGS.tflite_int8_output or
                            tflite.default_output(path, "int8"),
                            flags.FLAGS.tflite_seconds,
                            calibration=flags.FLAGS.calibration)
      print(f"int8 TFLite model written to {lite}")
  except (ValueError, FileNotFoundError, state_files.WriteFailed,
          folder_lock.FolderBusy) as e:
    print(f"error: {e}", file=sys.stderr)
    return 1
  return 0


def define_flags():
  flags.DEFINE_string("workdir", None, "Training workdir (has config.json "
                      "and checkpoints/).", required=True)
  flags.DEFINE_string("output", None, "SavedModel directory (default: "
                      "WORKDIR/saved_model).")
  flags.DEFINE_string("weights", None, "A .weights.h5 file to export instead "
                      "of the last checkpoint.")
  flags.DEFINE_alias("model", "workdir")
  flags.DEFINE_bool("tflite", False, "Also convert the SavedModel to a "
                    "TFLite flatbuffer (fixed input length).")
  flags.DEFINE_string("tflite_output", None, "TFLite file (default: the "
                      "SavedModel directory + .tflite).")
  flags.DEFINE_bool("tflite_int8", False, "Also convert to a full-integer "
                    "(int8) TFLite model, calibrated on --calibration.")
  flags.DEFINE_string("calibration", None, "Audio the int8 model is "
                      "calibrated on: files:DIR_OR_GLOB or files:LIST.csv "
                      "(300 clips are used, a random crop of each).")
  flags.DEFINE_string("tflite_int8_output", None, "int8 TFLite file "
                      "(default: the SavedModel directory + .int8.tflite).")
  flags.DEFINE_float("tflite_seconds", None, "Input length of the TFLite "
                     "model (default: one window of the SavedModel).")


if __name__ == "__main__":
  define_flags()
  app.run(main, flags_parser=command_help.parser(__doc__, [__name__]))
