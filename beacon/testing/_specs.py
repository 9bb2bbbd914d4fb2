"""``MODULE:ATTR`` specs: how the command line names a user's services and invariants.

Contract: ``MODULE`` is a dotted module name importable from the current directory, or the
path of a ``.py`` file; ``ATTR`` a name in it (dots walk attributes). Anything wrong (no
colon, no such file or module, no such name, the module raising on import) is one
:class:`~beacon.UsageError` naming the spec; the module's own exception is chained, not shown.
"""

from __future__ import annotations

import importlib
import importlib.util
import sys
from pathlib import Path
from types import ModuleType

from beacon._errors import UsageError

__all__ = ["load_spec"]


def _module(name: str, spec: str) -> ModuleType:
    if name.endswith(".py") or "/" in name:
        path = Path(name)
        if not path.is_file():
            raise UsageError(f"{spec}: no file {path}")
        key = f"_beacon_user_{abs(hash(str(path.resolve())))}"
        if key in sys.modules:
            return sys.modules[key]
        found = importlib.util.spec_from_file_location(key, path)
        if found is None or found.loader is None:
            raise UsageError(f"{spec}: cannot import {path}")
        module = importlib.util.module_from_spec(found)
        sys.modules[key] = module
        try:
            found.loader.exec_module(module)
        except Exception as exc:
            del sys.modules[key]
            raise UsageError(f"{spec}: importing {path} raised {type(exc).__name__}") from exc
        return module
    if "" not in sys.path and str(Path.cwd()) not in sys.path:
        sys.path.insert(0, str(Path.cwd()))
    try:
        return importlib.import_module(name)
    except ModuleNotFoundError as exc:
        raise UsageError(f"{spec}: no module {name!r}") from exc
    except Exception as exc:
        raise UsageError(f"{spec}: importing {name} raised {type(exc).__name__}") from exc


def load_spec(spec: str) -> object:
    """The object ``spec`` names (see the module docstring)."""
    module_name, colon, attr = spec.rpartition(":")
    if not colon or not module_name or not attr:
        raise UsageError(f"{spec!r} is not MODULE:ATTR (a module or .py file, then a name)")
    value: object = _module(module_name, spec)
    for part in attr.split("."):
        try:
            value = getattr(value, part)
        except AttributeError:
            raise UsageError(f"{spec}: no {part!r} in {module_name}") from None
    return value
