"""The one gate for optional dependencies: import them, or say which extra installs them.

Every optional piece of hvload (DuckDB datasets, the Dask cluster and remote load, the
Voila dashboard) asks :func:`require_extra`, so a missing package always raises the same
:class:`~hvload.errors.MissingExtraError` with one line naming the package and the
``pip install 'hvload[extra]'`` that brings it, and the CLI turns it into the same exit code.
"""

from __future__ import annotations

import importlib
import importlib.util
from types import ModuleType

from .errors import MissingExtraError

__all__ = ["EXTRAS", "available", "check_extra", "require_extra"]

#: top-level package -> the extra of hvload's pyproject.toml that installs it.
EXTRAS = {
    "duckdb": "dataset",
    "dask": "cluster",
    "distributed": "cluster",
    "voila": "dashboard",
}


def available(module: str) -> bool:
    """Whether ``module`` could be imported here (without importing it)."""
    try:
        return importlib.util.find_spec(module.split(".")[0]) is not None
    except ValueError:  # a module already in sys.modules with no spec
        return True


def _missing(module: str, what: str, extra: str | None) -> MissingExtraError:
    top = module.split(".")[0]
    name = extra or EXTRAS.get(top, top)
    return MissingExtraError(
        f"{what} needs the package {top!r}, which is not installed here: "
        f"pip install 'hvload[{name}]'"
    )


def check_extra(module: str, what: str, extra: str | None = None) -> None:
    """Raise :func:`require_extra`'s error if ``module`` is missing, without importing it
    (for a check before a slow import or another process does the work)."""
    if not available(module):
        raise _missing(module, what, extra)


def require_extra(module: str, what: str, extra: str | None = None) -> ModuleType:
    """Import the optional ``module`` for ``what``, or raise a one-line MissingExtraError.

    ``extra`` names the hvload extra that installs it; by default the one :data:`EXTRAS`
    lists for its top-level package.
    """
    try:
        return importlib.import_module(module)
    except ImportError:
        raise _missing(module, what, extra) from None
