"""`python -m common.embed`: audio files -> embeddings in one .npz (the code
is common/eval/embed.py)."""

from absl import app

from common.eval import embed
from common.io import command_help

if __name__ == "__main__":
  embed.define_flags()
  app.run(embed.main, flags_parser=command_help.parser(
      embed.__doc__, ["common.eval.embed"]))
