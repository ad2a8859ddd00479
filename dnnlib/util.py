"""EasyDict, construction of a class given by dotted name (EG3D-style configs) and rebuilding a nested
config dataclass from its JSON (snapshot loading, training/infer/load.py)."""
from __future__ import annotations

import dataclasses
import importlib
import types
import typing
from typing import Any


class EasyDict(dict):
    """A dict whose keys are also attributes: ``d.lr`` is ``d['lr']``."""

    def __getattr__(self, name: str) -> Any:
        try:
            return self[name]
        except KeyError:
            raise AttributeError(name) from None

    def __setattr__(self, name: str, value: Any) -> None:
        self[name] = value

    def __delattr__(self, name: str) -> None:
        try:
            del self[name]
        except KeyError:
            raise AttributeError(name) from None


def get_obj_by_name(name: str) -> Any:
    """Resolve ``'package.module.attr'`` (the longest importable module prefix wins)."""
    parts = name.split(".")
    for split in range(len(parts) - 1, 0, -1):
        module_name = ".".join(parts[:split])
        try:
            obj = importlib.import_module(module_name)
        except ModuleNotFoundError as exc:
            if exc.name is not None and not module_name.startswith(exc.name):
                raise  # the module exists but one of *its* imports is missing
            continue
        for attr in parts[split:]:
            try:
                obj = getattr(obj, attr)
            except AttributeError:
                raise ValueError(f"cannot find '{name}': module '{module_name}' has no '{attr}'") from None
        return obj
    raise ValueError(f"cannot find '{name}': no importable module in that name")


def construct_class_by_name(*args: Any, class_name: str, **kwargs: Any) -> Any:
    """Look up a class (or any callable) by dotted name and call it with the given arguments."""
    cls = get_obj_by_name(class_name)
    if not callable(cls):
        raise ValueError(f"'{class_name}' is not callable")
    return cls(*args, **kwargs)


def dataclass_from_dict(cls: type, data: dict) -> Any:
    """Rebuild a (nested) dataclass from ``dataclasses.asdict`` output, e.g. a config read from JSON.

    Fields typed as dataclasses (or ``Optional`` of one) are rebuilt recursively; lists become tuples
    where the field is a tuple. Unknown keys raise ValueError naming them.
    """
    hints = typing.get_type_hints(cls)
    names = {f.name for f in dataclasses.fields(cls)}
    unknown = set(data) - names
    if unknown:
        raise ValueError(f"{cls.__name__} has no field(s) {', '.join(sorted(unknown))}")
    kwargs = {}
    for name, value in data.items():
        hint = hints[name]
        options = typing.get_args(hint) if typing.get_origin(hint) in (typing.Union, types.UnionType) else (hint,)
        target = next((t for t in options if dataclasses.is_dataclass(t)), None)
        if target is not None and isinstance(value, dict):
            value = dataclass_from_dict(target, value)
        elif isinstance(value, list) and any(typing.get_origin(t) is tuple or t is tuple for t in options):
            value = tuple(value)
        kwargs[name] = value
    return cls(**kwargs)
