"""geopera-stac: serve, migrate, and admin commands (JSON on stdout, errors on stderr)."""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import sys
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from typing import Any

from geopera_stac_ext.core.errors import GeoperaError, SetupError
from geopera_stac_ext.core.settings import Settings, dsn_from_env, external_pg_env

log = logging.getLogger("geopera_stac_ext.cli")


@contextmanager
def database(settings: Settings, *, durable: bool = True) -> Iterator[dict[str, str]]:
    """PG* env of the configured server, or of the embedded cluster (stopped by its last user)."""
    env = external_pg_env(settings)
    if env is not None:
        yield env
        return
    from geopera_stac_ext.db.embedded import EmbeddedCluster

    with EmbeddedCluster(settings.home, durable=durable).session() as cluster:
        yield cluster.env()


async def _with_conn(env: dict[str, str], fn: Callable[[Any], Awaitable[Any]]) -> Any:
    import asyncpg

    conn = await asyncpg.connect(
        dsn_from_env(env), server_settings={"search_path": "pgstac,public"})
    try:
        from stac_fastapi.pgstac.db import con_init

        await con_init(conn)
        return await fn(conn)
    finally:
        await conn.close()


def run_db(env: dict[str, str], fn: Callable[[Any], Awaitable[Any]]) -> Any:
    return asyncio.run(_with_conn(env, fn))


def emit(obj: Any) -> None:
    # NOTE: flush: `serve --demo` keeps running, and a pipe reader needs the JSON now.
    print(json.dumps(obj, default=str, indent=None), flush=True)


def ensure_migrated(env: dict[str, str]) -> dict:
    from geopera_stac_ext.pgstac.version import migrate_supported

    # NOTE: refuses a pgstac this release is not tested with (pgstac/version.py).
    return migrate_supported(dsn_from_env(env))


# ---------------------------------------------------------------- commands


def cmd_migrate(args: argparse.Namespace, settings: Settings) -> int:
    with database(settings) as env:
        emit(ensure_migrated(env))
    return 0


def _interrupt(signum: int, frame: Any) -> None:
    raise KeyboardInterrupt(f"signal {signum}")


def cmd_serve(args: argparse.Namespace, settings: Settings) -> int:
    import signal

    import uvicorn

    # NOTE: uvicorn shuts down gracefully on SIGINT/SIGTERM and then re-raises the signal with
    # the previous handler. Python's default SIGTERM handler kills the process on the spot, so
    # `finally` blocks (stopping the embedded cluster) would never run: turn it into an
    # interrupt, like SIGINT, so `database()` stops the cluster it started.
    signal.signal(signal.SIGTERM, _interrupt)
    try:
        return _serve(args, settings, uvicorn)
    except KeyboardInterrupt:
        print("geopera-stac: stopped", file=sys.stderr)
        return 0


def check_port(host: str, port: int) -> None:
    """Refuse early, before anything is started, seeded or printed, when the port is taken."""
    import socket

    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except socket.gaierror as e:
        raise SetupError(f"cannot resolve --host {host!r}: {e.strerror}") from None
    family, _, _, _, address = infos[0]
    with socket.socket(family, socket.SOCK_STREAM) as s:
        # NOTE: the same option uvicorn binds with, so a port in TIME_WAIT is not refused.
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind(address)
        except OSError as e:
            raise SetupError(f"cannot listen on {host}:{port}: {e.strerror}; stop what is "
                             "using it or choose another --port") from None


def _serve(args: argparse.Namespace, settings: Settings, uvicorn: Any) -> int:
    from geopera_stac_ext.storage.signing import check_signing_secret

    settings.demo = bool(args.demo)
    # NOTE: before the database starts: a bad secret is one line and exit 2, nothing else.
    check_signing_secret(settings, demo=settings.demo)
    check_port(args.host, args.port)
    with database(settings) as env:
        ensure_migrated(env)
        if args.demo:
            from geopera_stac_ext.demo.seed import seed_demo

            info = run_db(env, lambda c: seed_demo(c, settings))
            info["base_url"] = f"http://{args.host}:{args.port}"
            note = info.pop("key_note")
            emit(info)
            print(note, file=sys.stderr)
            print(f"export GEOPERA_API_KEY={info['api_key']} PROJECT_ID={info['project_id']} "
                  f"GEOPERA_BASE_URL={info['base_url']}", file=sys.stderr, flush=True)
        os.environ.update(env)
        # NOTE: access_log=False: the app logs one access line per request itself (api/problems.py).
        common = dict(host=args.host, port=args.port, log_level=args.log_level,
                      access_log=False)
        if args.workers > 1:
            # NOTE: each worker process builds its app from the environment (the PG* of the
            # database set above, GEOPERA_*); this process keeps the embedded cluster for them
            # and stops it after the last worker exits.
            if settings.demo:
                os.environ["GEOPERA_DEMO"] = "true"
            uvicorn.run(WORKER_APP, factory=True, workers=args.workers, **common)
            return 0
        from geopera_stac_ext.app import create_app

        uvicorn.run(create_app(settings, pg_env=env), **common)
    return 0


WORKER_APP = "geopera_stac_ext.app:create_app_from_env"


def workers_arg(value: str) -> int:
    try:
        n = int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {value!r}") from None
    if not 1 <= n <= 64:
        raise argparse.ArgumentTypeError("must be between 1 and 64")
    return n


def _admin(args: argparse.Namespace, settings: Settings) -> int:
    from geopera_stac_ext.admin import tenancy

    handlers: dict[str, Callable[[Any], Awaitable[Any]]] = {
        "create-org": lambda c: tenancy.create_org(c, args.name, args.plan),
        "create-project": lambda c: tenancy.create_project(c, args.name, args.org),
        "create-user": lambda c: tenancy.create_user(c, args.email),
        "grant": lambda c: tenancy.grant(c, args.user, args.role, org_id=args.org,
                                         project_id=args.project),
        "create-key": lambda c: tenancy.create_key(c, args.user, args.scopes),
        "revoke-key": lambda c: tenancy.revoke_key(c, args.key_id),
        "set-plan": lambda c: tenancy.set_plan(c, args.org, args.plan),
        "set-subscription": lambda c: tenancy.set_subscription(c, args.org, args.status),
    }
    for name, factory in EXTRA_ADMIN.items():
        handlers[name] = factory(args, settings)
    with database(settings) as env:
        ensure_migrated(env)
        emit(run_db(env, handlers[args.admin_cmd]))
    return 0


# NOTE: other modules (usage, lifecycle, load) add subcommands here without editing main().
EXTRA_ADMIN: dict[str, Callable[[argparse.Namespace, Settings], Callable[[Any], Awaitable[Any]]]] = {}
# Each extender gets (top-level subparsers, admin subparsers) and sets its own `func`.
EXTRA_COMMANDS: list[Callable[[Any, Any], None]] = []


class OneLineParser(argparse.ArgumentParser):
    """Usage errors as one line on stderr and exit code 2, like every other failure."""

    def error(self, message: str):  # type: ignore[override]
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def build_parser() -> argparse.ArgumentParser:
    p = OneLineParser(prog="geopera-stac", description=__doc__)
    p.add_argument("--log-level", default=os.environ.get("GEOPERA_LOG_LEVEL", "info"))
    sub = p.add_subparsers(dest="cmd", required=True)

    s = sub.add_parser("serve", help="serve the op API and the STAC API")
    s.add_argument("--host", default="127.0.0.1")
    s.add_argument("--port", type=int, default=8080)
    s.add_argument("--workers", type=workers_arg,
                   default=os.environ.get("GEOPERA_WORKERS", "1"),
                   help="server processes sharing the port (uvicorn workers; default 1, or "
                        "GEOPERA_WORKERS)")
    s.add_argument("--demo", action="store_true",
                   help="seed a demo organization, project, collection and items; print a key")
    s.set_defaults(func=cmd_serve)

    m = sub.add_parser("migrate", help="apply pgstac and geopera migrations (idempotent)")
    m.set_defaults(func=cmd_migrate)

    a = sub.add_parser("admin", help="tenancy administration")
    asub = a.add_subparsers(dest="admin_cmd", required=True)
    x = asub.add_parser("create-org")
    x.add_argument("--name", required=True)
    x.add_argument("--plan", choices=["free", "paid"], default="free")
    x = asub.add_parser("create-project")
    x.add_argument("--name", required=True)
    x.add_argument("--org")
    x = asub.add_parser("create-user")
    x.add_argument("--email", required=True)
    x = asub.add_parser("grant")
    x.add_argument("--user", required=True)
    g = x.add_mutually_exclusive_group(required=True)
    g.add_argument("--org")
    g.add_argument("--project")
    x.add_argument("--role", required=True, choices=["viewer", "editor", "admin", "owner"])
    x = asub.add_parser("create-key")
    x.add_argument("--user", required=True)
    x.add_argument("--scopes", help="comma-separated; default all: items:read,items:write,"
                                    "collections:read,collections:write")
    x = asub.add_parser("revoke-key")
    x.add_argument("--key-id", required=True)
    x = asub.add_parser("set-plan")
    x.add_argument("--org", required=True)
    x.add_argument("--plan", required=True, choices=["free", "paid"])
    x = asub.add_parser("set-subscription")
    x.add_argument("--org", required=True)
    x.add_argument("--status", required=True, choices=["active", "past_due"])
    a.set_defaults(func=_admin)
    for extend in EXTRA_COMMANDS:
        extend(sub, asub)
    return p


def _load_plugins() -> None:
    import importlib

    for mod in ("geopera_stac_ext.lifecycle.commands", "geopera_stac_ext.ingest.cli",
                "geopera_stac_ext.admin.commands", "geopera_stac_ext.storage.commands"):
        try:
            importlib.import_module(mod)
        except ImportError as e:
            if e.name != mod:
                raise


def main(argv: list[str] | None = None) -> int:
    _load_plugins()
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(level=args.log_level.upper(), stream=sys.stderr,
                        format="%(asctime)s %(levelname)s %(name)s %(message)s")
    from geopera_stac_ext.core.logredact import install_redaction

    install_redaction()
    try:
        return args.func(args, Settings())
    except Exception as e:  # noqa: BLE001 - every failure leaves as one line and exit code 2
        print(f"geopera-stac: error: {failure_line(e)}", file=sys.stderr)
        if not isinstance(e, (GeoperaError, SetupError)):
            log.debug("traceback of the failure above", exc_info=True)
        return 2


def failure_line(e: BaseException) -> str:
    """One line for any failure: ours carry a sentence; database and OS errors are named."""
    if isinstance(e, GeoperaError):
        return getattr(e, "detail", None) or str(e)
    if isinstance(e, SetupError):
        return str(e)
    first = (str(e).strip().splitlines() or [""])[0]
    name = type(e).__name__
    if _is_database_error(e):
        # NOTE: libpq's message names host and port, never the password.
        return f"database unreachable or refused the connection ({name}): {first}"
    return f"{name}: {first} (run with --log-level debug for the traceback)"


def _is_database_error(e: BaseException) -> bool:
    import socket

    mod = type(e).__module__
    return (mod.startswith(("psycopg", "asyncpg"))
            or isinstance(e, (ConnectionError, socket.gaierror, TimeoutError)))


if __name__ == "__main__":
    # NOTE: run the imported module's main, so plugins register into the same EXTRA_* lists.
    from geopera_stac_ext.cli import main as package_main

    sys.exit(package_main())
