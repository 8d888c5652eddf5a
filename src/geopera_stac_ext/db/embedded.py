"""A private PostgreSQL+PostGIS cluster run from the machine's PostgreSQL binaries."""

from __future__ import annotations

import fcntl
import glob
import hashlib
import logging
import os
import pwd
import secrets
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from geopera_stac_ext.core.errors import SetupError
from geopera_stac_ext.core.secretfile import write_private

log = logging.getLogger(__name__)

POSTGIS_PACKAGE = "postgresql-15-postgis-3"
SERVER_PACKAGE = "postgresql-15"


def _find_bindir() -> Path:
    """The newest PostgreSQL server bin dir that has initdb (PG_BINDIR overrides)."""
    if env := os.environ.get("PG_BINDIR"):
        if (Path(env) / "initdb").exists():
            return Path(env)
        raise SetupError(
            f"PostgreSQL server binaries not found (no initdb in PG_BINDIR={env}); install them "
            f"with `apt-get install -y {POSTGIS_PACKAGE}` (it pulls in {SERVER_PACKAGE})"
        )
    candidates = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), reverse=True)
    if candidates:
        return Path(candidates[0]).parent
    if which := shutil.which("initdb"):
        return Path(which).parent
    raise SetupError(
        f"PostgreSQL server binaries not found (initdb); install them with "
        f"`apt-get install -y {POSTGIS_PACKAGE}` (it pulls in {SERVER_PACKAGE})"
    )


def _check_postgis(bindir: Path) -> None:
    sharedir = subprocess.run(
        [str(bindir / "pg_config"), "--sharedir"], capture_output=True, text=True
    ).stdout.strip() if (bindir / "pg_config").exists() else ""
    if not sharedir:
        sharedir = str(bindir.parent.parent.parent.parent / "share/postgresql" / bindir.parent.name)
    if not glob.glob(os.path.join(sharedir, "extension", "postgis.control")):
        raise SetupError(
            f"PostGIS is not installed for {bindir}; install it with "
            f"`apt-get install -y {POSTGIS_PACKAGE}`"
        )


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _as_root() -> bool:
    return os.geteuid() == 0


def _run_pg(cmd: list[str], **kw) -> subprocess.CompletedProcess:
    # NOTE: initdb and pg_ctl refuse to run as root; run them as the postgres system user.
    if _as_root():
        cmd = ["runuser", "-u", "postgres", "--", *cmd]
    return subprocess.run(cmd, capture_output=True, text=True, **kw)


def _reachable_by_postgres(path: Path) -> bool:
    if not _as_root():
        return True
    probe = path if path.exists() else path.parent
    res = subprocess.run(
        ["runuser", "-u", "postgres", "--", "test", "-x", str(probe)], capture_output=True
    )
    return res.returncode == 0


@dataclass
class EmbeddedCluster:
    """A cluster under `home/pg`; `start()` initialises it on first use and reuses it after."""

    home: Path
    port: int | None = None
    # NOTE: tests run with durable=False (fsync off): throwaway data, 2-3x faster setup.
    durable: bool = True
    _started_here: bool = False

    def __post_init__(self) -> None:
        self.home = Path(self.home).resolve()
        self.bindir = _find_bindir()
        self.datadir = self.home / "pg"
        if not _reachable_by_postgres(self.home):
            # NOTE: a data dir below a 0700 home (e.g. /root) is unreachable for the postgres
            # user; keep the cluster in a stable per-home spot it can reach instead.
            digest = hashlib.sha256(str(self.home).encode()).hexdigest()[:12]
            self.datadir = Path("/var/tmp") / f"geopera-pg-{digest}"
            log.info("embedded cluster data dir %s (home %s not reachable by postgres)",
                     self.datadir, self.home)
        self.password_file = self.home / "pg-password"

    @property
    def password(self) -> str:
        return self.password_file.read_text().strip()

    @property
    def dsn(self) -> str:
        return f"postgresql://postgres:{self.password}@127.0.0.1:{self.port}/postgres"

    def env(self, dbname: str = "postgres") -> dict[str, str]:
        return {
            "PGHOST": "127.0.0.1",
            "PGPORT": str(self.port),
            "PGUSER": "postgres",
            "PGPASSWORD": self.password,
            "PGDATABASE": dbname,
        }

    def _init(self) -> None:
        _check_postgis(self.bindir)
        self.home.mkdir(parents=True, exist_ok=True)
        self.datadir.mkdir(parents=True, exist_ok=True)
        password = secrets.token_urlsafe(24)
        write_private(self.password_file, password)
        pwfile = self.datadir.parent / f".{self.datadir.name}.pw"
        write_private(pwfile, password)
        if _as_root():
            pg = pwd.getpwnam("postgres")
            os.chown(self.datadir, pg.pw_uid, pg.pw_gid)
            os.chown(pwfile, pg.pw_uid, pg.pw_gid)
        try:
            res = _run_pg([
                str(self.bindir / "initdb"), "-D", str(self.datadir), "-U", "postgres",
                "--pwfile", str(pwfile), "--auth=scram-sha-256", "-E", "UTF8",
                "--locale=C.UTF-8",
            ])
        finally:
            pwfile.unlink(missing_ok=True)
        if res.returncode != 0:
            raise SetupError(f"initdb failed: {res.stderr.strip().splitlines()[-1:]}")

    @classmethod
    def standby_of(cls, primary: "EmbeddedCluster", home: Path,
                   durable: bool = True) -> "EmbeddedCluster":
        """A hot standby streaming from the running `primary` (a read replica on loopback).

        NOTE: `pg_basebackup -R` copies the primary (same password) and writes standby.signal
        and primary_conninfo; `start()` then serves read-only queries while it replays.
        """
        standby = cls(home, durable=durable)
        if (standby.datadir / "PG_VERSION").exists():
            return standby
        standby.home.mkdir(parents=True, exist_ok=True)
        standby.datadir.mkdir(parents=True, exist_ok=True)
        os.chmod(standby.datadir, 0o700)
        if _as_root():
            pg = pwd.getpwnam("postgres")
            os.chown(standby.datadir, pg.pw_uid, pg.pw_gid)
        write_private(standby.password_file, primary.password)
        # NOTE: the password travels in the environment, not argv; -R keeps it in the
        # standby's postgresql.auto.conf (0600, the postgres user's) for reconnecting.
        res = _run_pg([
            str(standby.bindir / "pg_basebackup"), "-D", str(standby.datadir),
            "-h", "127.0.0.1", "-p", str(primary.port), "-U", "postgres",
            "-X", "stream", "-R", "--checkpoint=fast",
        ], env={**os.environ, "PGPASSWORD": primary.password})
        if res.returncode != 0:
            raise SetupError(f"pg_basebackup failed: {res.stderr.strip().splitlines()[-1:]}")
        return standby

    def _running_port(self) -> int | None:
        pidfile = self.datadir / "postmaster.pid"
        if not pidfile.exists():
            return None
        res = _run_pg([str(self.bindir / "pg_ctl"), "status", "-D", str(self.datadir)])
        if res.returncode != 0:
            return None
        lines = pidfile.read_text().splitlines()
        return int(lines[3]) if len(lines) > 3 else None

    def start(self) -> "EmbeddedCluster":
        if not (self.datadir / "PG_VERSION").exists():
            log.info("initialising embedded PostgreSQL cluster in %s", self.datadir)
            self._init()
        else:
            _check_postgis(self.bindir)
        if (port := self._running_port()) is not None:
            self.port = port
            return self
        self.port = _free_port()
        opts = (
            f"-c listen_addresses=127.0.0.1 -p {self.port} -c unix_socket_directories='' "
            "-c max_connections=200 -c shared_buffers=256MB"
        )
        if not self.durable:
            opts += " -c fsync=off -c synchronous_commit=off -c full_page_writes=off"
        res = _run_pg([
            str(self.bindir / "pg_ctl"), "start", "-w", "-t", "60", "-D", str(self.datadir),
            "-o", opts, "-l", str(self.datadir / "server.log"),
        ])
        if res.returncode != 0:
            tail = ""
            logfile = self.datadir / "server.log"
            if logfile.exists():
                tail = " | ".join(logfile.read_text().splitlines()[-3:])
            raise SetupError(f"embedded PostgreSQL failed to start: {res.stderr.strip()} {tail}")
        self._started_here = True
        self._wait_ready()
        return self

    def _wait_ready(self) -> None:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            res = subprocess.run(
                [str(self.bindir / "pg_isready"), "-h", "127.0.0.1", "-p", str(self.port)],
                capture_output=True,
            )
            if res.returncode == 0:
                return
            time.sleep(0.2)
        raise SetupError("embedded PostgreSQL did not become ready within 30 s")

    def stop(self) -> None:
        if not self._started_here:
            return
        self._pg_stop()

    def _pg_stop(self) -> None:
        _run_pg([str(self.bindir / "pg_ctl"), "stop", "-m", "fast", "-w", "-D", str(self.datadir)])
        self._started_here = False

    @contextmanager
    def session(self) -> Iterator["EmbeddedCluster"]:
        """Use the cluster for a process's lifetime; the last user of this home stops it.

        NOTE: every user (server, CLI command) holds a shared flock on `home/cluster.lock`
        while it uses the cluster; the kernel drops a dead process's lock, so a cluster left
        running by a crashed (kill -9) run is adopted by the next user and stopped by whoever
        leaves last (an exclusive lock is granted only when no other user holds one). A user
        starting meanwhile waits for the shared lock until the stop is done, then starts it.
        """
        self.home.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.home / "cluster.lock", os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_SH)
            self.start()
            if not self._started_here:
                log.info("using the embedded cluster already running on port %s", self.port)
            yield self
        finally:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                last = True
            except BlockingIOError:
                last = False
            if last and self._running_port() is not None:
                self._pg_stop()
            os.close(fd)
