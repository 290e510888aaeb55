"""Starting a whole Relais stack (or plain Rasa) as real processes, for benchmarks and tests.

    with Stack(workdir, database_url, rasa_servers=2, action_servers=2, workers=2,
               shared_rasa=True) as stack:
        stack.worker_urls      # the Relais workers (web chat, console)
        stack.peak_memory()    # {"rasa-1": MiB, ...}

One Rasa server talks to one action server (Rasa's endpoints take one URL); Relais worker i
talks to Rasa server i (modulo their number). With several Rasa servers, `shared_rasa=True`
gives them what they need to share conversations: a tracker store on PostgreSQL (or Redis)
and the Redis lock store (README, "Scale-out"). `tracker_store` picks which of the stores in
TRACKER_STORES; docs/tracker-store.md has what each measured, and why the default won.

Rasa and the action servers listen on RASA_INTERFACE / ACTIONS_INTERFACE (127.0.0.1 unless
set); Rasa's API wants RASA_TOKEN, the action servers ACTIONS_SECRET (README,
"Configuration"). Every process gets the secrets this one resolved (`shared`).
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote

import redis
import requests
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.pool import NullPool

from relais.core.config import settings

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
MODEL = settings().model_path
DEFAULT_MODEL = ROOT / "models" / "bench" / "rasa-default.tar.gz"
#: The tracker stores a shared Rasa server can use: Relais's own on PostgreSQL (the default:
#: relais/nlu/tracker_store.py, docs/tracker-store.md), Rasa's SQL tracker store on
#: PostgreSQL, and Rasa's Redis tracker store.
TRACKER_STORES = ("relais-sql", "rasa-sql", "rasa-redis")
DEFAULT_TRACKER_STORE = "relais-sql"
QUIET = {
    "RASA_TELEMETRY_ENABLED": "false",
    "TF_CPP_MIN_LOG_LEVEL": "2",
    "SQLALCHEMY_SILENCE_UBER_WARNING": "1",
}


def reachable(interface: str) -> str:
    """The host to reach a server listening on `interface` from this machine, for a URL."""
    if interface in ("", "0.0.0.0", "::"):  # every interface: loopback is one of them
        return "127.0.0.1"
    return f"[{interface}]" if ":" in interface else interface


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Service:
    """One process of the stack, with its log."""

    name: str
    url: str
    process: subprocess.Popen[bytes]
    log: Path

    def wait_ready(self, health_path: str, limit: float = 300) -> None:
        deadline = time.monotonic() + limit
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(
                    f"{self.name} exited during start-up:\n{self.log.read_text()[-3000:]}"
                )
            try:
                if requests.get(self.url + health_path, timeout=2).ok:
                    return
            except requests.RequestException:
                pass
            time.sleep(0.3)
        raise RuntimeError(
            f"{self.name} did not answer in {limit:.0f}s:\n{self.log.read_text()[-3000:]}"
        )

    def peak_memory_mib(self) -> float:
        """The largest resident size the process (and its children) reached, from /proc."""
        total = 0
        for pid in [self.process.pid, *_children(self.process.pid)]:
            try:
                for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                    if line.startswith("VmHWM:"):
                        total += int(line.split()[1])
            except OSError:
                continue
        return round(total / 1024, 1)

    def cpu_seconds(self) -> float:
        """CPU time (user + system) used so far by the process and its children, from /proc."""
        return sum(process_cpu_seconds(p) for p in [self.process.pid, *_children(self.process.pid)])

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def process_cpu_seconds(pid: int) -> float:
    """CPU time (user + system) process `pid` used so far, from /proc (0 once it is gone)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # utime, stime


def _children(pid: int) -> list[int]:
    found: list[int] = []
    for task in Path(f"/proc/{pid}/task").glob("*"):
        try:
            kids = [int(k) for k in (task / "children").read_text().split()]
        except OSError:
            continue
        for kid in kids:
            found += [kid, *_children(kid)]
    return found


@dataclass
class Stack:
    """A Relais stack (or, with `plain=True`, one plain Rasa server) on free ports."""

    workdir: Path
    database_url: str = ""
    rasa_servers: int = 1
    action_servers: int = 1
    workers: int = 1
    #: Several Rasa servers share trackers in PostgreSQL (or Redis) and locks in Redis.
    shared_rasa: bool = False
    tracker_store: str = DEFAULT_TRACKER_STORE  #: one of TRACKER_STORES
    tracker_database_url: str = "postgresql://postgres@127.0.0.1:5432/relais_rasa"
    redis_url: str = "redis://127.0.0.1:6379/1"
    plain: bool = False  #: plain Rasa: the default model, REST channel, no action server
    model: Path = MODEL
    extra_env: dict[str, str] = field(default_factory=dict)
    #: Fixed first ports (rasa, actions, relais), each next server one higher; None: free ports.
    ports: tuple[int, int, int] | None = None
    services: list[Service] = field(default_factory=list)
    #: The secrets and interfaces every process gets (`Settings.shared_environment`).
    shared: dict[str, str] = field(
        default_factory=lambda: settings().shared_environment(), repr=False
    )

    @property
    def rasa_token(self) -> str:
        """The token the stack's Rasa servers ask for (for a caller of their HTTP API)."""
        return self._environment()["RASA_TOKEN"]

    def _environment(self) -> dict[str, str]:
        # extra_env wins, as it does for the processes (a test may set its own secrets).
        return {**self.shared, **self.extra_env}

    @property
    def worker_urls(self) -> list[str]:
        return [s.url for s in self.services if s.name.startswith("relais-")]

    @property
    def rasa_urls(self) -> list[str]:
        return [s.url for s in self.services if s.name.startswith("rasa-")]

    def __enter__(self) -> Stack:
        self.workdir.mkdir(parents=True, exist_ok=True)
        try:
            self.start()
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(self, *exc: Any) -> None:
        self.stop()

    def _port(self, kind: int, number: int) -> int:
        return free_port() if self.ports is None else self.ports[kind] + number - 1

    def _spawn(
        self, name: str, command: list[str], port: int, env: dict[str, str], host: str = "127.0.0.1"
    ) -> Service:
        log = self.workdir / f"{name}.log"
        with log.open("w") as out:
            process = subprocess.Popen(
                command,
                cwd=ROOT,
                stdout=out,
                stderr=subprocess.STDOUT,
                env={**os.environ, **QUIET, **self.shared, **env, **self.extra_env},
            )
        service = Service(name, f"http://{host}:{port}", process, log)
        self.services.append(service)
        return service

    def _rasa_command(self, port: int, model: Path) -> list[str]:
        # Loopback unless RASA_INTERFACE says otherwise; the API only with the token.
        # `--auth-token=`: a token starting with "-" would otherwise read as an option.
        shared = self._environment()
        return [
            str(BIN / "rasa"),
            "run",
            "--enable-api",
            "--interface",
            shared["RASA_INTERFACE"],
            f"--auth-token={shared['RASA_TOKEN']}",
            "--port",
            str(port),
            "--model",
            str(model),
        ]

    def start(self) -> None:
        env = {"DATABASE_URL": self.database_url} if self.database_url else {}
        shared = self._environment()
        rasa_host = reachable(shared["RASA_INTERFACE"])
        status = f"/status?token={quote(self.rasa_token, safe='')}"
        if self.plain:
            port = free_port()
            rasa = self._spawn(
                "rasa-1", self._rasa_command(port, DEFAULT_MODEL), port, env, rasa_host
            )
            rasa.wait_ready(status)
            return
        actions = []
        for i in range(1, self.action_servers + 1):
            port = self._port(1, i)
            actions.append(
                self._spawn(
                    f"actions-{i}",
                    # Relais's entry point: rasa_sdk's app on ACTIONS_INTERFACE, behind the secret.
                    [sys.executable, "-m", "actions.server", "--port", str(port)],
                    port,
                    env,
                    reachable(shared["ACTIONS_INTERFACE"]),
                )
            )
        rasa = []
        for i in range(1, self.rasa_servers + 1):
            port = self._port(0, i)
            endpoints = self.workdir / f"endpoints-{i}.yml"
            endpoints.write_text(self.endpoints(actions[(i - 1) % len(actions)].url))
            rasa.append(
                self._spawn(
                    f"rasa-{i}",
                    [*self._rasa_command(port, self.model), "--endpoints", str(endpoints)],
                    port,
                    env,
                    rasa_host,
                )
            )
        for service in actions:
            service.wait_ready("/health")
        for service in rasa:
            service.wait_ready(status)
        workers = []
        for i in range(1, self.workers + 1):
            port = self._port(2, i)
            workers.append(
                self._spawn(
                    f"relais-{i}",
                    [
                        sys.executable,
                        "-m",
                        "bot.web",
                        "--port",
                        str(port),
                        "--worker-id",
                        f"worker-{i}",
                    ],
                    port,
                    {**env, "RASA_URL": rasa[(i - 1) % len(rasa)].url},
                )
            )
        for service in workers:
            service.wait_ready("/healthz")

    def endpoints(self, actions_url: str) -> str:
        """A Rasa server's endpoints.yml: its action server, and what Rasa servers share."""
        # The secret stays out of the file: Rasa substitutes it from its environment (in an
        # unquoted value only, hence no quotes).
        yaml = f'action_endpoint:\n  url: "{actions_url}/webhook"\n  token: ${{ACTIONS_SECRET}}\n'
        if not self.shared_rasa:
            return yaml
        db, cache = make_url(self.tracker_database_url), make_url(self.redis_url)
        on_redis = (
            f"  url: {cache.host}\n  port: {cache.port or 6379}\n  db: {cache.database or 1}\n"
            "  key_prefix: relais\n"
        )
        on_postgres = (
            f"  dialect: postgresql\n  url: {db.host}\n  port: {db.port or 5432}\n"
            f"  db: {db.database}\n  username: {db.username}\n  login_db: postgres\n"
        )
        store = {
            "relais-sql": "  type: relais.nlu.tracker_store.AsyncSQLTrackerStore\n" + on_postgres,
            "rasa-sql": "  type: SQL\n" + on_postgres,
            "rasa-redis": "  type: redis\n" + on_redis,
        }[self.tracker_store]
        # Relais's lock store: Rasa's Redis one, with its commands off the event loop
        # (relais/nlu/lock_store.py).
        lock = "  type: relais.nlu.lock_store.AsyncRedisLockStore\n" + on_redis
        return yaml + f"tracker_store:\n{store}lock_store:\n{lock}"

    def cpu_seconds(self) -> dict[str, float]:
        """CPU seconds used so far by each process of the stack; with PostgreSQL, by each
        server process serving the stack's databases ("postgres:<pid>": connections come and
        go, so a difference is taken per process); and with shared Rasa servers, by Redis
        (its own count, so it includes anyone else's use of that server)."""
        found = {s.name: s.cpu_seconds() for s in self.services}
        databases = [self.database_url]
        if self.shared_rasa and self.tracker_store != "rasa-redis":
            databases.append(self.tracker_database_url)
        for url in (make_url(u) for u in databases if u.startswith("postgresql")):
            admin = create_engine(url.set(database="postgres"), poolclass=NullPool)
            with admin.connect() as connection:
                pids = connection.execute(
                    text("SELECT pid FROM pg_stat_activity WHERE datname = :name"),
                    {"name": url.database},
                ).scalars()
                found.update({f"postgres:{pid}": process_cpu_seconds(pid) for pid in pids})
            admin.dispose()
        if self.shared_rasa:
            cpu = redis.Redis.from_url(self.redis_url).info("cpu")
            found["redis"] = float(cpu["used_cpu_user"]) + float(cpu["used_cpu_sys"])
        return found

    def peak_memory(self) -> dict[str, float]:
        return {s.name: s.peak_memory_mib() for s in self.services}

    def stop(self) -> None:
        for service in reversed(self.services):
            service.stop()


def main() -> int:
    """`make run-scale-out`: the scale-out configuration on this machine, until Ctrl-C."""
    import argparse
    import signal

    parser = argparse.ArgumentParser(description=main.__doc__)
    parser.add_argument(
        "--servers",
        type=int,
        default=2,
        help="how many Rasa servers, action servers and Relais workers",
    )
    parser.add_argument(
        "--database-url",
        default=os.environ.get("DATABASE_URL", ""),
        help="PostgreSQL for the application data (default: $DATABASE_URL)",
    )
    parser.add_argument(
        "--tracker-database-url",
        default=os.environ.get(
            "RASA_TRACKER_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/relais_rasa"
        ),
    )
    parser.add_argument(
        "--redis-url", default=os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/1")
    )
    parser.add_argument(
        "--tracker-store",
        choices=TRACKER_STORES,
        default=DEFAULT_TRACKER_STORE,
        help="Rasa's tracker store (docs/tracker-store.md)",
    )
    parser.add_argument("--workdir", default=str(ROOT / "var" / "scale-out"))
    args = parser.parse_args()
    if not args.database_url.startswith("postgresql"):
        parser.error(
            "the scale-out configuration needs PostgreSQL: set DATABASE_URL, e.g. "
            "postgresql://postgres@127.0.0.1:5432/relais"
        )
    from relais.storage.db import create_all, make_engine

    engine = make_engine(args.database_url)
    create_all(engine)
    engine.dispose()
    stack = Stack(
        Path(args.workdir),
        database_url=args.database_url,
        rasa_servers=args.servers,
        action_servers=args.servers,
        workers=args.servers,
        shared_rasa=True,
        tracker_store=args.tracker_store,
        tracker_database_url=args.tracker_database_url,
        redis_url=args.redis_url,
        ports=(5005, 5055, 8000),
    )
    with stack:
        print("Relais (scale-out) is running; logs and endpoints files in " + args.workdir)
        for service in stack.services:
            print(f"  {service.name:<10} {service.url}")
        print(
            "Put the Relais workers behind one address (a load balancer, or start them with "
            "--reuse-port); Ctrl-C stops everything.",
            flush=True,
        )
        signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
        signal.signal(
            signal.SIGINT, signal.default_int_handler
        )  # also when started in the background
        try:
            while all(s.process.poll() is None for s in stack.services):
                time.sleep(1)
        except KeyboardInterrupt:
            return 0
        dead = next(s for s in stack.services if s.process.poll() is not None)
        print(
            f"{dead.name} stopped; the end of {dead.log}:\n{dead.log.read_text()[-2000:]}",
            file=sys.stderr,
        )
        return 1


if __name__ == "__main__":
    sys.exit(main())
