"""Serve benchmark: the download gate against the same server's HTTP floor, and through nginx.

One `bitcache serve` (a subprocess, SQLite with durable commits, from a node
folder made by `bitcache init`) and one nginx configured as docs/serve.md
says. wrk (Debian's package) drives each with 64 keep-alive connections:

* ``floor_per_s``: ``GET /v1/ping``, the authenticated no-op — what this
  server's HTTP stack, routing and API-key check cost, and no more (floor
  and gate runs alternate, a few rounds each, so both see the same machine);
* ``gate_per_s`` and ``gate_p99_ms``: ``GET /v1/gate/<sha256>?<link>`` on the
  server directly, every request a new signed link, so every request is a
  new charge (link check, file check on disk, the charge's transaction, the
  X-Accel-Redirect answer);
* ``gate_ratio``: gate / floor;
* ``gate_cpu_us`` and ``floor_cpu_us``: the server's CPU time (user and
  system, from /proc; its charging process included) per answered request,
  the median round — what each request costs whatever else the machine
  runs, where the rates and latencies also measure the wait for a core;
* ``nginx_per_s``: downloads through nginx (``/files/<sha256>?<link>``):
  nginx asks the gate, then serves the 1 KiB file itself.

After the runs the benchmark checks that every answered gate request was a
charge (no link served twice) and that the books balance.

The server runs as ``bitcache serve`` runs by default: downloads charged by
its charging process (docs/serve.md, "The charging process");
``--no-charging-process`` measures the server charging in its own process.

    python benchmarks/serve.py [--quick] [--seconds N] [--rounds N] [--no-charging-process]

``--quick`` runs three rounds of 3 seconds (the whole run stays under 120 s); the
default is five rounds of 10 seconds.
The last line printed is one JSON object; it also gives the load average
before and after the run (``load_1m``) and the HTTP parser and event loop
uvicorn used (``http``).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bitcache.core.pricing import PriceRule
from bitcache.hooks import Hooks
from bitcache.serve import keys
from bitcache.serve.links import LinkSigner
from tests.serve.stack import init_node, serve_stack

CONNECTIONS = 64
PRICE = 1_000
LUA = """
local paths = {}
for line in io.lines("%s") do paths[#paths + 1] = line end
local i = 0
request = function()
  i = i + 1
  if i > #paths then i = 1 end
  return wrk.format("GET", paths[i])
end
"""


def _cpu_seconds(pid: int) -> float:
    """User and system CPU time a process and its children (the charging process) have
    used so far (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    own = (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    return own + sum(_cpu_seconds(int(child)) for child in children if _alive(int(child)))


def _alive(pid: int) -> bool:
    return Path(f"/proc/{pid}/stat").exists()


def _wrk(url: str, seconds: int, *extra: str, pid: int = 0) -> dict[str, float]:
    """One wrk run: requests per second, p99 (ms), requests, non-2xx answers, and the CPU
    time the server (``pid``) spent per request, in µs."""
    cpu = _cpu_seconds(pid) if pid else 0.0
    done = subprocess.run(["wrk", "-t1", f"-c{CONNECTIONS}", f"-d{seconds}s", "--latency",
                           *extra, url], capture_output=True, text=True, check=True)
    out = done.stdout
    rate = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
    p99 = re.search(r"99%\s+([\d.]+)(us|ms|s)\b", out)
    assert p99 is not None, out
    scale = {"us": 0.001, "ms": 1.0, "s": 1000.0}[p99.group(2)]
    total = int(re.search(r"(\d+) requests in", out).group(1))  # type: ignore[union-attr]
    bad = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    cpu_us = (_cpu_seconds(pid) - cpu) / max(1, total) * 1e6 if pid else 0.0
    return {"per_s": rate, "p99_ms": float(p99.group(1)) * scale, "requests": total,
            "non_2xx": int(bad.group(1)) if bad else 0, "cpu_us": cpu_us}


def _links(signer: LinkSigner, fh: str, count: int, prefix: str, path: Path) -> Path:
    now = int(time.time())
    with path.open("w") as out:
        for _ in range(count):
            out.write(f"{prefix}{fh}?{signer.query(signer.make(fh, 'bob', 3600, now))}\n")
    return path


def _combined(runs: list[dict[str, float]]) -> dict[str, float]:
    """Rounds taken together: the rate over all of them, the median p99, the sums."""
    seconds = sum(r["requests"] / r["per_s"] for r in runs)
    p99s = sorted(r["p99_ms"] for r in runs)
    cpu = sorted(r["cpu_us"] for r in runs)
    return {"per_s": sum(r["requests"] for r in runs) / seconds,
            "p99_ms": p99s[len(p99s) // 2], "requests": sum(r["requests"] for r in runs),
            "non_2xx": sum(r["non_2xx"] for r in runs), "cpu_us": cpu[len(cpu) // 2]}


def _setup(folder: Path) -> tuple[Path, str, Hooks, str, bytes, str]:
    """A node folder, its database with one 1 KiB file and a funded downloader, a key."""
    home = folder / "node"
    init_node(home)
    db = f"sqlite:///{folder / 'bench.sqlite'}"
    hooks = Hooks.open(db)
    data = os.urandom(1024)
    fh = hashlib.sha256(data).hexdigest()
    hooks.register_file(fh, "carol", PriceRule.fixed(PRICE), size=len(data))
    hooks.credit_deposit("bob", 10**12, "bench-deposit")
    key = keys.create_key(hooks.ledger, ["storage"], "bench", 0).key
    return home, db, hooks, fh, data, key


def run(seconds: int, rounds: int, folder: Path, *, charging_process: bool = True
        ) -> dict[str, object]:
    """Floor and gate alternate ``rounds`` times (so both see the same machine), then nginx."""
    home, db, hooks, fh, data, key = _setup(folder)
    mode = "--charging-process" if charging_process else "--no-charging-process"
    with serve_stack(home, db, folder / "stack", "--key-cache-seconds", "2", mode) as stack:
        (stack.files / fh).write_bytes(data)
        signer = LinkSigner((home / "serve.secret").read_bytes())
        count = 20_000 * seconds

        def script(name: str, prefix: str) -> str:
            lua = folder / f"{name}.lua"
            lua.write_text(LUA % _links(signer, fh, count, prefix, folder / f"{name}.txt"))
            return str(lua)

        auth = ("-H", f"Authorization: Bearer {key}")
        _wrk(f"{stack.api}/v1/ping", 1, *auth)  # warm up
        floors, gates = [], []
        for r in range(rounds):
            floors.append(_wrk(f"{stack.api}/v1/ping", seconds, *auth, pid=stack.serve_pid))
            gates.append(_wrk(stack.api, seconds, "-s", script(f"gate{r}", "/v1/gate/"),
                              pid=stack.serve_pid))
        web = _wrk(stack.web, seconds, "-s", script("web", "/files/"))
    floor, gate = _combined(floors), _combined(gates)
    downloads = hooks.file(fh).downloads
    answered = gate["requests"] - gate["non_2xx"] + web["requests"] - web["non_2xx"]
    balanced = hooks.ledger.trial_balance() == 0
    hooks.close()
    return {
        "gate_per_s": round(gate["per_s"], 1), "gate_p99_ms": round(gate["p99_ms"], 2),
        "floor_per_s": round(floor["per_s"], 1), "floor_p99_ms": round(floor["p99_ms"], 2),
        "gate_ratio": round(gate["per_s"] / floor["per_s"], 3),
        "gate_cpu_us": round(gate["cpu_us"]), "floor_cpu_us": round(floor["cpu_us"]),
        "nginx_per_s": round(web["per_s"], 1), "nginx_p99_ms": round(web["p99_ms"], 2),
        "gate_non_2xx": gate["non_2xx"], "nginx_non_2xx": web["non_2xx"],
        "charges": downloads, "every_answer_charged": downloads >= answered,
        "books_balance": balanced, "rounds": rounds, "seconds": seconds,
        "connections": CONNECTIONS, "charging_process": charging_process,
    }


def _http_stack() -> str:
    """Which HTTP parser and event loop uvicorn picks here ("auto" takes the fast ones)."""
    from importlib.util import find_spec

    parser = "httptools" if find_spec("httptools") else "h11"
    return f"{parser}+{'uvloop' if find_spec('uvloop') else 'asyncio'}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="3 rounds of 3 s (under 120 s)")
    parser.add_argument("--seconds", type=int, default=10, help="seconds per load and round")
    parser.add_argument("--rounds", type=int, default=5, help="floor and gate rounds")
    parser.add_argument("--no-charging-process", action="store_true",
                        help="charge in the server's own process (bitcache serve "
                        "--no-charging-process), as before the charging process")
    args = parser.parse_args()
    for tool in ("wrk", "nginx"):
        if shutil.which(tool) is None and not Path(f"/usr/sbin/{tool}").exists():
            sys.exit(f"{tool} is not installed: apt-get install {tool}")
    seconds, rounds = (3, 3) if args.quick else (args.seconds, args.rounds)
    started, load_before = time.monotonic(), os.getloadavg()[0]
    with tempfile.TemporaryDirectory(prefix="bitcache-serve-bench-") as tmp:
        result = run(seconds, rounds, Path(tmp),
                     charging_process=not args.no_charging_process)
    result["wall_s"] = round(time.monotonic() - started, 1)
    result["load_1m"] = [round(load_before, 2), round(os.getloadavg()[0], 2)]
    result["http"] = _http_stack()
    for name, value in result.items():
        print(f"{name:>22}: {value}")
    print(json.dumps(result))


if __name__ == "__main__":
    main()
