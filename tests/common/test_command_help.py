"""`--help` of every command lists its own flags with their defaults on
stdout and exits 0 (absl's listed none and exited 1)."""

import subprocess
import sys

import pytest

from common.io import plugins
from tests import processes

COMMANDS = {
    **{f"{m}.train": ["--config", "--data", "--strategy", "--workdir"]
       for m in plugins.method_packages()},
    "common.embed": ["--model", "--input", "--output", "--batch_windows"],
    "common.evaluate": ["--model", "--task", "--mode", "--steps"],
    "common.export": ["--workdir", "--output", "--weights", "--tflite"],
}


@pytest.mark.parametrize("command", sorted(COMMANDS))
def test_help_lists_the_commands_flags_and_exits_0(command, child_env):
  result = subprocess.run([sys.executable, "-m", command, "--help"],
                          env=child_env, cwd=processes.ROOT,
                          capture_output=True, text=True, timeout=120)
  assert result.returncode == 0, result.stderr[-2000:]
  for flag in COMMANDS[command]:
    assert (f"  {flag}:" in result.stdout or  # booleans: --[no]flag
            f"  --[no]{flag[2:]}:" in result.stdout), (flag, result.stdout)
  assert "(default:" in result.stdout
  assert "Try --helpfull" not in result.stdout + result.stderr
  # The usage examples keep their own lines (a backslash continuation
  # in a docstring used to join them).
  assert not any("      --" in line and line.strip().startswith("python")
                 for line in result.stdout.splitlines())
