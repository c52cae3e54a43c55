"""`--help` for the project's commands: the command's usage and its own
flags with their defaults, on stdout, exit 0.

absl's own `--help` lists only flags defined in `__main__` (the project
defines them in the modules that use them, so it listed none), exits 1,
and points to `--helpfull`'s 135 lines of absl and TPU flags; `--helpfull`
keeps working for those.
"""

import sys

from absl import flags

HELP_FLAGS = ("--help", "-h", "-?", "--helpshort")


def parser(usage, modules):
  """An absl `flags_parser` for app.run: `--help` prints `usage` and the
  flags the `modules` (names) define, then exits 0; anything else parses
  as usual."""

  def parse(argv):
    if any(a in HELP_FLAGS for a in argv[1:]):
      print_help(usage, modules)
      sys.exit(0)
    return flags.FLAGS(argv)

  return parse


def print_help(usage, modules):
  print(usage.strip())
  print("\nflags:")
  for module in modules:
    text = flags.FLAGS.module_help(module)
    # module_help starts with the module's name line: the user needs the
    # flags, not where they are defined.
    print("\n".join(text.splitlines()[2:] if text.startswith("\n") else
                    text.splitlines()[1:]))
  print("\n(--helpfull also lists absl's and TensorFlow's own flags)")
