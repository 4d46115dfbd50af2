"""A real high-availability PostgreSQL cluster for the failover tests: etcd and Patroni members.

Debian's ``etcd`` (one member: enough for a test; production runs three)
and ``patroni`` with PostgreSQL 15, all on 127.0.0.1 on free ports, in a
fresh folder, as the unprivileged user ``bitcache-ha`` when the tests run
as root (``.ci/install-ha`` creates it) — never the server on 5432.

Faults, on a member as a whole (Patroni and every PostgreSQL process under
it): ``kill`` (SIGKILL: a node lost) and ``freeze``/``thaw`` (SIGSTOP/SIGCONT:
a node that stops answering while its sockets stay open).
"""

from __future__ import annotations

import contextlib
import json
import os
import pwd
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

PG_BIN = Path("/usr/lib/postgresql/15/bin")
HA_USER = os.environ.get("BITCACHE_HA_USER", "bitcache-ha")
DATABASE = "bitcache"
# Patroni 3.0 says "running" of a standby, later versions "streaming"
RUNNING = ("running", "streaming")


def missing_tools() -> str | None:
    """Why the cluster cannot run here (None when it can)."""
    for tool in ("patroni", "etcd"):
        if shutil.which(tool) is None:
            return f"{tool} is not installed (run .ci/install-ha)"
    if not (PG_BIN / "postgres").exists():
        return f"PostgreSQL 15 is not installed ({PG_BIN})"
    if os.geteuid() == 0:
        try:
            pwd.getpwnam(HA_USER)
        except KeyError:
            return f"user {HA_USER} does not exist (run .ci/install-ha)"
    return None


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def children(pid: int) -> list[int]:
    """``pid`` and every process below it."""
    parents: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        parents.setdefault(ppid, []).append(int(entry.name))
    found, todo = [], [pid]
    while todo:
        p = todo.pop()
        found.append(p)
        todo.extend(parents.get(p, []))
    return found


def signal_all(pids: list[int], sig: signal.Signals) -> None:
    for pid in pids:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, sig)


@dataclass
class Member:
    """One Patroni member: its name, ports, folder and process."""

    name: str
    pg_port: int
    rest_port: int
    folder: Path
    process: subprocess.Popen[bytes] | None = None

    def state(self) -> dict[str, Any] | None:
        """Patroni's REST view of the cluster (None when this member does not answer)."""
        try:
            url = f"http://127.0.0.1:{self.rest_port}/cluster"
            with urllib.request.urlopen(url, timeout=1) as answer:
                return json.loads(answer.read())  # type: ignore[no-any-return]
        except (OSError, urllib.error.URLError, ValueError):
            return None


class HACluster:
    """etcd plus Patroni members; ``sync`` selects synchronous_mode_strict."""

    def __init__(self, members: int = 2, *, sync: bool = True, ttl: int = 5) -> None:
        self.sync = sync
        self.ttl = ttl
        self.root = Path(tempfile.mkdtemp(prefix="bitcache-ha-"))
        self.scope = f"bitcache-{uuid.uuid4().hex[:8]}"
        self.etcd_port, self.etcd_peer = free_port(), free_port()
        self.etcd: subprocess.Popen[bytes] | None = None
        self.members = [
            Member(f"m{i}", free_port(), free_port(), self.root / f"m{i}") for i in range(members)
        ]
        self._user: tuple[int, int] | None = None
        if os.geteuid() == 0:
            entry = pwd.getpwnam(HA_USER)
            self._user = (entry.pw_uid, entry.pw_gid)
            os.chown(self.root, *self._user)

    # --- processes -----------------------------------------------------------

    def _spawn(self, args: list[str], log: Path) -> subprocess.Popen[bytes]:
        out = log.open("ab")
        if self._user is not None:
            os.chown(log, *self._user)
        env = {"PATH": f"{PG_BIN}:/usr/bin:/bin", "HOME": str(self.root), "LANG": "C.UTF-8"}
        kw: dict[str, Any] = {}
        if self._user is not None:
            kw = {"user": self._user[0], "group": self._user[1], "extra_groups": []}
        return subprocess.Popen(
            args, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            env=env, cwd=self.root, start_new_session=True, **kw,
        )

    def start(self, timeout: float = 90) -> None:
        """Start etcd and every member; wait until the cluster serves (with its sync standby)."""
        self.etcd = self._spawn(
            [
                "etcd", "--name", "e0", "--data-dir", str(self.root / "etcd"),
                "--listen-client-urls", f"http://127.0.0.1:{self.etcd_port}",
                "--advertise-client-urls", f"http://127.0.0.1:{self.etcd_port}",
                "--listen-peer-urls", f"http://127.0.0.1:{self.etcd_peer}",
                "--initial-advertise-peer-urls", f"http://127.0.0.1:{self.etcd_peer}",
                "--initial-cluster", f"e0=http://127.0.0.1:{self.etcd_peer}",
                "--initial-cluster-state", "new",
                "--enable-v2=true",  # Patroni's etcd (v2) client: compare-and-swap leader key
            ],
            self.root / "etcd.log",
        )
        for m in self.members:
            m.folder.mkdir()
            if self._user is not None:
                os.chown(m.folder, *self._user)
            self._write_config(m)
            self.start_member(m)
            if m is self.members[0]:
                self.wait_for_leader(timeout=timeout)
        self.wait_ready(timeout=timeout)
        self.create_database(DATABASE)

    def start_member(self, m: Member) -> None:
        m.process = self._spawn(["patroni", str(m.folder / "patroni.yml")], m.folder / "log")

    def _write_config(self, m: Member) -> None:
        config = self._config(m)
        path = m.folder / "patroni.yml"
        path.write_text(json.dumps(config, indent=1))  # JSON is YAML
        if self._user is not None:
            os.chown(path, *self._user)

    def _config(self, m: Member) -> dict[str, Any]:
        loop_wait = 1
        dcs = {
            "ttl": self.ttl, "loop_wait": loop_wait, "retry_timeout": (self.ttl - loop_wait) // 2,
            "maximum_lag_on_failover": 1 << 40 if not self.sync else 1 << 20,
            "synchronous_mode": self.sync, "synchronous_mode_strict": self.sync,
            "postgresql": {
                "use_pg_rewind": False,  # a fresh copy of this small database is quicker
                "parameters": {
                    "wal_level": "replica", "hot_standby": "on", "wal_log_hints": "on",
                    "max_wal_senders": 5, "max_replication_slots": 5, "max_connections": 60,
                    "wal_keep_size": "128MB", "shared_buffers": "64MB",
                    # a replication peer that vanished (frozen, or promoted away) is given up
                    # in seconds, not the default minute that would hold up a demotion
                    "wal_sender_timeout": "5s", "wal_receiver_timeout": "5s",
                },
            },
        }
        return {
            "scope": self.scope, "namespace": "/bitcache/", "name": m.name,
            "log": {"level": "INFO"},
            "restapi": {
                "listen": f"127.0.0.1:{m.rest_port}", "connect_address": f"127.0.0.1:{m.rest_port}",
            },
            "etcd": {"hosts": f"127.0.0.1:{self.etcd_port}"},
            "bootstrap": {"dcs": dcs, "initdb": [{"encoding": "UTF8"}, "no-sync"]},
            "postgresql": {
                "listen": f"127.0.0.1:{m.pg_port}", "connect_address": f"127.0.0.1:{m.pg_port}",
                "data_dir": str(m.folder / "data"), "bin_dir": str(PG_BIN),
                "pgpass": str(m.folder / "pgpass"),
                # a member that diverged (it wrote WAL the new leader never had) is copied
                # afresh from the leader, with an immediate checkpoint on the leader
                "remove_data_directory_on_diverged_timelines": True,
                "basebackup": [{"checkpoint": "fast"}],
                "authentication": {
                    "superuser": {"username": "postgres", "password": "postgres"},
                    "replication": {"username": "replicator", "password": "replicator"},
                    "rewind": {"username": "postgres", "password": "postgres"},
                },
                "parameters": {"unix_socket_directories": str(m.folder)},
                "pg_hba": [
                    "local all all trust",
                    "host all all 127.0.0.1/32 trust",
                    "host replication all 127.0.0.1/32 trust",
                ],
            },
        }

    def stop(self) -> None:
        """Kill everything and remove the folder (kept with BITCACHE_HA_KEEP=1, for its logs)."""
        for m in self.members:
            if m.process is not None:
                tree = self._tree(m)
                signal_all(tree, signal.SIGCONT)
                signal_all(tree, signal.SIGKILL)
                m.process.wait()
        if self.etcd is not None:
            self.etcd.kill()
            self.etcd.wait()
        if not os.environ.get("BITCACHE_HA_KEEP"):
            shutil.rmtree(self.root, ignore_errors=True)

    # --- state -----------------------------------------------------------------

    def roles(self, among: list[Member] | None = None) -> dict[str, tuple[str, str]]:
        """name -> (role, state), as the first member of ``among`` that answers sees it."""
        for m in among or self.members:
            view = m.state()
            if view is not None:
                return {x["name"]: (x["role"], x["state"]) for x in view.get("members", [])}
        return {}

    def leader(self, among: list[Member] | None = None) -> Member | None:
        for name, (role, state) in self.roles(among).items():
            if role == "leader" and state == "running":
                return self.member(name)
        return None

    def member(self, name: str) -> Member:
        return next(m for m in self.members if m.name == name)

    def ready(self, among: list[Member] | None = None) -> bool:
        """A running leader whose every standby streams (the synchronous one, in sync mode)."""
        roles = self.roles(among)
        leaders = [n for n, (r, s) in roles.items() if r == "leader" and s == "running"]
        if len(leaders) != 1:
            return False
        standbys = [n for n, (r, s) in roles.items() if r != "leader" and s in RUNNING]
        if self.sync and not any(roles[n][0] == "sync_standby" for n in standbys):
            return False
        return (
            len(standbys) == len(self.members) - 1
            and self.streaming(self.member(leaders[0])) == len(standbys)
        )

    def writable(self, m: Member) -> bool:
        """``m``'s PostgreSQL runs as a primary (promotion finished)."""
        import psycopg

        try:
            with psycopg.connect(
                host="127.0.0.1", port=m.pg_port, user="postgres", dbname="postgres",
                connect_timeout=2,
            ) as conn:
                row = conn.execute("SELECT pg_is_in_recovery()").fetchone()
        except psycopg.Error:
            return False
        return row is not None and row[0] is False

    def streaming(self, leader: Member) -> int:
        """How many standbys stream from ``leader`` (pg_stat_replication)."""
        import psycopg

        try:
            with psycopg.connect(
                host="127.0.0.1", port=leader.pg_port, user="postgres", dbname="postgres",
                connect_timeout=2,
            ) as conn:
                row = conn.execute(
                    "SELECT count(*) FROM pg_stat_replication WHERE state = 'streaming'"
                ).fetchone()
        except psycopg.Error:
            return -1
        return int(row[0]) if row else 0

    def wait_for_leader(
        self, timeout: float, *, other_than: Member | None = None
    ) -> Member:
        among = [m for m in self.members if m is not other_than]
        ends = time.monotonic() + timeout
        while time.monotonic() < ends:
            found = self.leader(among)
            if found is not None and found is not other_than and self.writable(found):
                return found
            time.sleep(0.2)
        raise TimeoutError(f"no leader within {timeout} s; logs in {self.root}")

    def wait_ready(self, timeout: float, among: list[Member] | None = None) -> None:
        ends = time.monotonic() + timeout
        while time.monotonic() < ends:
            if self.ready(among):
                return
            time.sleep(0.2)
        raise TimeoutError(f"cluster not ready within {timeout} s: {self.roles(among)}")

    # --- clients -----------------------------------------------------------------

    def url(self, database: str = DATABASE, *, connect_timeout: int = 2) -> str:
        """The multi-host URL bitcache uses: every member, the read-write one chosen by libpq."""
        hosts = "&".join(f"host=127.0.0.1:{m.pg_port}" for m in self.members)
        return (
            f"postgresql+psycopg://postgres@/{database}?{hosts}"
            f"&target_session_attrs=read-write&connect_timeout={connect_timeout}"
        )

    def create_database(self, name: str) -> None:
        import psycopg

        leader = self.leader()
        assert leader is not None
        with psycopg.connect(
            host="127.0.0.1", port=leader.pg_port, user="postgres", dbname="postgres",
            autocommit=True,
        ) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')

    # --- faults -----------------------------------------------------------------

    def _tree(self, m: Member) -> list[int]:
        """Patroni and every PostgreSQL process of ``m`` (Patroni detaches the postmaster
        from itself, so it is found by its pid file)."""
        assert m.process is not None
        tree = children(m.process.pid)
        try:
            postmaster = int((m.folder / "data" / "postmaster.pid").read_text().split()[0])
        except (OSError, ValueError, IndexError):
            return tree
        return tree + [p for p in children(postmaster) if p not in tree]

    def kill(self, m: Member) -> None:
        """Node loss: Patroni and its PostgreSQL killed together."""
        tree = self._tree(m)
        signal_all(tree, signal.SIGKILL)
        assert m.process is not None
        m.process.wait()

    def crash_postgres(self, m: Member) -> None:
        """PostgreSQL alone crashes (its postmaster and every backend SIGKILLed); Patroni,
        still holding the leader lock, starts it again."""
        postmaster = int((m.folder / "data" / "postmaster.pid").read_text().split()[0])
        signal_all(children(postmaster), signal.SIGKILL)

    def freeze(self, m: Member) -> list[int]:
        """The member stops answering (every process stopped), its sockets open."""
        tree = self._tree(m)
        signal_all(tree, signal.SIGSTOP)
        return tree

    def thaw(self, tree: list[int]) -> None:
        signal_all(tree, signal.SIGCONT)

    def stop_pids(self, pids: list[int]) -> None:
        signal_all(pids, signal.SIGSTOP)

    def walreceiver(self, m: Member) -> int | None:
        """The pid of ``m``'s WAL receiver (a standby's), if running."""
        for pid in self._tree(m):
            try:
                cmd = Path(f"/proc/{pid}/cmdline").read_bytes()
            except OSError:
                continue
            if b"walreceiver" in cmd:
                return pid
        return None
