"""The HEAR 2021 API under the module name HEAR's tools import:

  python -m hearvalidator.validate common.hear -m SAVED_MODEL

The code is common/eval/hear.py.
"""

from common.eval.hear import get_scene_embeddings  # noqa: F401
from common.eval.hear import get_timestamp_embeddings  # noqa: F401
from common.eval.hear import load_model  # noqa: F401
