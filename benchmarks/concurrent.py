"""Concurrent charging benchmark: ``python benchmarks/concurrent.py [--quick] [--breakdown]``.

The benchmark itself is ``benchmarks/concurrency.py`` (see its docstring).

A script runs with its own folder first on ``sys.path``, so in every script
of ``benchmarks/`` the statement ``import concurrent.futures`` (made by
asyncio, hence SQLAlchemy) finds this file instead of the standard
library's package. Imported under that name, this module therefore stands
in for the standard package: its ``__path__`` is the standard library's
``concurrent`` folder, so ``concurrent.futures`` resolves as usual.
"""

import os

if __name__ == "concurrent":  # imported in place of the standard library's package
    __path__ = [os.path.join(os.path.dirname(os.__file__), "concurrent")]
elif __name__ == "__main__":
    import sys
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from benchmarks.concurrency import main

    main()
