"""The CSV list files every tool reads (`files:LIST.csv`, prepare's
`--input=LIST.csv`): one reader, Python's csv module in its standard
dialect, so a list saved by a spreadsheet (a UTF-8 byte-order mark, CRLF
line ends, quoted fields holding commas) reads as the user sees it.

Rows that are empty or whose first cell starts with `#` are skipped, and a
first row whose first cell is `path`, `file` or `filename` is the header.
"""

import csv
import io

from common.io import filesystem

HEADER_NAMES = ("path", "file", "filename")


def _read_text(path):
  with filesystem.open(path, "rb") as f:
    data = f.read()
  try:
    return data.decode("utf-8-sig")
  except UnicodeDecodeError as e:
    raise ValueError(f"{path}: not UTF-8 text ({e}); save the list as "
                     "UTF-8 CSV") from None


def csv_rows(path):
  """The data rows of a CSV list: [[cell, ...]], cells stripped."""
  rows = [[cell.strip() for cell in row] for row in
          csv.reader(io.StringIO(_read_text(path), newline=""))]
  rows = [r for r in rows if any(r) and not r[0].startswith("#")]
  if rows and rows[0][0].lower() in HEADER_NAMES:
    rows = rows[1:]
  return rows
