"""Code identity of step functions and pickling them by value.

``code_fingerprint`` hashes a function's source together with the source of the functions and
classes of its own module that it uses (recursively) and the simple constants it reads, so
editing a helper invalidates reuse while editing an unrelated function does not.

``dumps_by_value`` cloudpickles an object with the user's own modules (anything not installed
in the interpreter: ``__main__``, a script, a notebook, the project's package) pickled by value,
so a node that cannot import them can still load it.

Example::

    key = code_fingerprint(prep_fn)
    blob = dumps_by_value(prep_fn)
"""

from __future__ import annotations

import inspect
import os
import sys
import sysconfig
import types
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from cumulus._hashing import text_digest

_SIMPLE = (int, float, str, bool, bytes, type(None))
_PACKAGE_DIR = str(Path(__file__).resolve().parents[1])


def code_fingerprint(fn: Any) -> str:
    """SHA-256 (32 hex) of ``fn``'s code and the same-module code and constants it uses."""
    parts: list[str] = []
    _collect(fn, getattr(fn, "__module__", None), parts, set())
    return text_digest("\n\x00".join(parts), 32)


def _collect(obj: Any, module: str | None, parts: list[str], seen: set[int]) -> None:
    if id(obj) in seen:
        return
    seen.add(id(obj))
    parts.append(_source(obj))
    if isinstance(obj, type):
        return
    code = getattr(obj, "__code__", None)
    if code is None:
        return
    scope = getattr(obj, "__globals__", {})
    for name in sorted(_global_names(code)):
        if name in scope:
            _visit(name, scope[name], module, parts, seen)
    for i, cell in enumerate(getattr(obj, "__closure__", None) or ()):
        try:
            value = cell.cell_contents
        except ValueError:  # an empty cell
            continue
        _visit(f"<closure {i}>", value, module, parts, seen)


def _visit(name: str, value: Any, module: str | None, parts: list[str], seen: set[int]) -> None:
    inner = getattr(value, "fn", None)
    if inner is not None and callable(inner) and hasattr(value, "_is_cumulus_step"):
        value = inner  # a @step used as a plain function
    if isinstance(value, _SIMPLE) or (isinstance(value, tuple) and all(
            isinstance(v, _SIMPLE) for v in value)):
        parts.append(f"{name}={value!r}")
    elif isinstance(value, types.FunctionType | type) and \
            getattr(value, "__module__", None) == module:
        _collect(value, module, parts, seen)


def _global_names(code: types.CodeType) -> set[str]:
    names = set(code.co_names)
    for const in code.co_consts:
        if isinstance(const, types.CodeType):
            names |= _global_names(const)
    return names


def _source(obj: Any) -> str:
    try:
        return inspect.getsource(obj)
    except (OSError, TypeError):
        code = getattr(obj, "__code__", None)
        if code is None:
            return f"{getattr(obj, '__module__', '')}.{getattr(obj, '__qualname__', obj)!s}"
        return _code_text(code)


def _code_text(code: types.CodeType) -> str:
    consts = [(_code_text(c) if isinstance(c, types.CodeType) else repr(c))
              for c in code.co_consts]
    return f"{code.co_code.hex()}|{code.co_names}|{code.co_varnames}|{consts}"


def _installed_roots() -> list[str]:
    paths = sysconfig.get_paths()
    roots = {paths[k] for k in ("stdlib", "platstdlib", "purelib", "platlib") if k in paths}
    roots |= {os.path.dirname(os.__file__), _PACKAGE_DIR}
    return [os.path.realpath(r) for r in roots]


def is_user_module(name: str) -> bool:
    """True for modules not installed in the interpreter (scripts, notebooks, projects)."""
    if name == "__main__":
        return True
    module = sys.modules.get(name)
    path = getattr(module, "__file__", None)
    if module is None or not path:
        return False
    real = os.path.realpath(path)
    return not any(real.startswith(root + os.sep) for root in _installed_roots())


def _registrable(name: str) -> str | None:
    """The module name to register by value for user module ``name`` (its top package)."""
    if not name or name == "__main__" or not is_user_module(name):
        return None
    top = name.split(".")[0]
    return top if top in sys.modules and is_user_module(top) else name


def _referenced_modules(obj: Any) -> set[str]:
    """Modules of the globals a function uses (one level), so helpers travel along."""
    code = getattr(obj, "__code__", None)
    scope = getattr(obj, "__globals__", None)
    if code is None or scope is None:
        return set()
    out = set()
    for name in _global_names(code):
        value = scope.get(name)
        if isinstance(value, types.ModuleType):
            out.add(value.__name__)
        elif value is not None and not isinstance(value, _SIMPLE):
            module = getattr(value, "__module__", None)
            if isinstance(module, str):
                out.add(module)
    return out


def user_packages(objects: list[Any]) -> list[str]:
    """Names to register by value: the user modules that define or serve ``objects``."""
    out: list[str] = []
    for obj in objects:
        names = {getattr(obj, "__module__", None) or "", *_referenced_modules(obj)}
        for name in sorted(names):
            chosen = _registrable(name)
            if chosen and chosen in sys.modules and chosen not in out:
                out.append(chosen)
    return out


@contextmanager
def by_value(modules: list[str]) -> Iterator[None]:
    """Register ``modules`` (top-level names) with cloudpickle for pickling by value."""
    import cloudpickle

    registered = []
    for name in modules:
        module = sys.modules[name]
        try:
            cloudpickle.register_pickle_by_value(module)
            registered.append(module)
        except ValueError:  # already registered by someone else
            continue
    try:
        yield
    finally:
        for module in registered:
            cloudpickle.unregister_pickle_by_value(module)


def _rebuild_workspace(payload: dict[str, Any]) -> Any:
    from cumulus.workspace import Workspace

    return Workspace.from_payload(payload)


def _rebuild_datastore(ws: Any, name: str) -> Any:
    from cumulus.datastores import Datastore

    return Datastore.get(ws, name)


def _rebuild_experiment(ws: Any, name: str) -> Any:
    from cumulus.experiment import Experiment

    return Experiment(ws, name)


def _reducer(obj: Any) -> Any:
    """Workspace handles travel as their description, never as open connections."""
    from cumulus.datastores import Datastore
    from cumulus.experiment import Experiment
    from cumulus.workspace import Workspace

    if isinstance(obj, Workspace):
        return _rebuild_workspace, (obj.payload(),)
    if isinstance(obj, Datastore):
        return _rebuild_datastore, (obj.workspace, obj.name)
    if isinstance(obj, Experiment):
        return _rebuild_experiment, (obj.workspace, obj.name)
    return NotImplemented


def dumps_by_value(obj: Any, owners: list[Any] | None = None) -> bytes:
    """cloudpickle ``obj``; the user modules of ``owners`` (default: obj) go by value.

    A pipeline body or step that uses a module-level ``ws`` or ``ds`` carries them as
    descriptions (the workspace payload, the datastore's name), rebuilt where it is loaded.
    """
    import io

    import cloudpickle

    class Pickler(cloudpickle.Pickler):
        def reducer_override(self, item: Any) -> Any:
            reduced = _reducer(item)
            if reduced is not NotImplemented:
                return reduced
            return super().reducer_override(item)

    with by_value(user_packages(owners if owners is not None else [obj])):
        buf = io.BytesIO()
        Pickler(buf, protocol=cloudpickle.DEFAULT_PROTOCOL).dump(obj)
        return buf.getvalue()
