"""Run the example storage server on 127.0.0.1 with uvicorn."""

from __future__ import annotations

import argparse
from pathlib import Path

import uvicorn

from bitcache.hooks import Hooks
from examples.storage_server.app import create_app


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--db", default="sqlite:///storage-server.sqlite")
    parser.add_argument("--folder", type=Path, default=Path("storage-server-files"))
    parser.add_argument("--port", type=int, default=8080)
    args = parser.parse_args()
    hooks = Hooks.open(args.db)
    uvicorn.run(create_app(hooks, args.folder), host="127.0.0.1", port=args.port)


if __name__ == "__main__":
    main()
