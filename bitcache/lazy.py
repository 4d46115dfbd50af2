"""Lazy package exports (PEP 562): a package names what it exports, and loads it when used.

A package ``__init__`` that imported its whole API would load every module
below it: ``import bitcache.core.money`` would bring SQLAlchemy, the chain
adapters and the wallet's key libraries with it, and a statement verifier
would need the whole stack installed. Instead the ``__init__`` lists
``{module: names}``; :func:`exports` turns that into the module's
``__getattr__`` and ``__dir__``, so ``bitcache.LedgerStore`` imports
:mod:`bitcache.store.ledger` on first use and caches the name (and
``bitcache.store``, a subpackage nobody imported yet, is imported when
asked for, as it was when everything loaded eagerly). The same names are
imported under ``TYPE_CHECKING`` so mypy and IDEs see them.

Standard library only: it runs before anything else in bitcache.
"""

from __future__ import annotations

import importlib
import importlib.util
import sys
from collections.abc import Callable, Mapping, Sequence

__all__ = ["exports"]


def exports(
    package: str, modules: Mapping[str, Sequence[str]]
) -> tuple[Callable[[str], object], Callable[[], list[str]]]:
    """``__getattr__`` and ``__dir__`` for ``package``, exporting ``modules``' names lazily.

    ``modules`` maps a module's full name to the names the package takes
    from it. A name is looked up in its module on first access and then
    stored in the package, so later accesses cost nothing.
    """
    home: dict[str, str] = {}
    for module, names in modules.items():
        for name in names:
            if name in home:
                raise ValueError(f"{package}: {name} is exported from {home[name]} and {module}")
            home[name] = module

    def __getattr__(name: str) -> object:
        module = home.get(name)
        if module is None:
            return _submodule(package, name)
        value = getattr(importlib.import_module(module), name)
        setattr(sys.modules[package], name, value)
        return value

    def __dir__() -> list[str]:
        return sorted({*vars(sys.modules[package]), *home})

    return __getattr__, __dir__


def _submodule(package: str, name: str) -> object:
    """``package.name`` when it is a submodule (``import bitcache`` then ``bitcache.store``
    worked while the package imported everything eagerly); else AttributeError."""
    if not name.startswith("_") and importlib.util.find_spec(f"{package}.{name}") is not None:
        return importlib.import_module(f"{package}.{name}")
    raise AttributeError(f"module {package!r} has no attribute {name!r}")
