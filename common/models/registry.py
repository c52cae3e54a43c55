"""A registry of builders by name, that its entries register into.

A leaf: it imports none of its entries (tensorflow/models' core/registry.py,
big_vision's pp/registry.py). The encoders' registry is
common/models/encoders.py, which imports every module that registers one.
"""

import inspect
from typing import Any, Callable, Dict, List


class Registry:
  """Builders by name, each taking its options as keyword arguments.

  Options are checked against the builder's signature, so a name the
  builder does not take is an error naming the options it does take
  rather than a value silently ignored.
  """

  def __init__(self, kind: str):
    self.kind = kind
    self._builders: Dict[str, Callable[..., Any]] = {}

  def register(self, name: str) -> Callable[[Callable], Callable]:
    """Decorator: registers the decorated builder under `name`."""
    def wrap(builder):
      if name in self._builders:
        raise ValueError(f"{self.kind} {name!r} is registered twice")
      self._builders[name] = builder
      return builder
    return wrap

  def names(self) -> List[str]:
    return sorted(self._builders)

  def lookup(self, name: str) -> Callable[..., Any]:
    if name not in self._builders:
      raise ValueError(f"unknown {self.kind} {name!r}; choose one of "
                       f"{', '.join(self.names())}")
    return self._builders[name]

  def options(self, name: str, positional: int = 0) -> Dict[str, Any]:
    """The keyword options of builder `name` and their defaults (after
    its first `positional` arguments, which the caller supplies)."""
    parameters = list(inspect.signature(self.lookup(name)).parameters.values())
    return {p.name: p.default for p in parameters[positional:]
            if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)}

  def check_options(self, name: str, options: Dict[str, Any],
                    positional: int = 0) -> None:
    """Raises ValueError when `options` holds a name builder `name` does
    not take."""
    known = self.options(name, positional)
    unknown = sorted(set(options) - set(known))
    if unknown:
      raise ValueError(
          f"{self.kind} {name!r} has no option {', '.join(unknown)}; its "
          f"options are {', '.join(sorted(known)) or 'none'}")


# Every encoder, of every input format (common/models/encoders.py).
ENCODERS = Registry("encoder")
