"""EasyDict, object lookup by dotted name, and formatting helpers."""
from __future__ import annotations

import importlib
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


def call_func_by_name(*args: Any, func_name: str, **kwargs: Any) -> Any:
    """Look up a callable by dotted name and call it."""
    func = get_obj_by_name(func_name)
    if not callable(func):
        raise ValueError(f"'{func_name}' is not callable")
    return func(*args, **kwargs)


def construct_class_by_name(*args: Any, class_name: str, **kwargs: Any) -> Any:
    """Look up a class by dotted name and instantiate it."""
    return call_func_by_name(*args, func_name=class_name, **kwargs)


def format_time(seconds: float) -> str:
    """Human-readable duration: '42s', '3m 05s', '2h 07m', '1d 03h'."""
    s = int(round(seconds))
    if s < 60:
        return f"{s}s"
    if s < 3600:
        return f"{s // 60}m {s % 60:02d}s"
    if s < 86400:
        return f"{s // 3600}h {(s // 60) % 60:02d}m"
    return f"{s // 86400}d {(s // 3600) % 24:02d}h"
