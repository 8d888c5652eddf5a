"""geopera-stac: serve, migrate, and admin commands (JSON on stdout, errors on stderr)."""

from __future__ import annotations

import argparse
import logging
import os
import sys
from collections.abc import Awaitable, Callable
from typing import Any

from geopera_stac_ext.admin import commands as admin_commands
from geopera_stac_ext.admin import tenancy
from geopera_stac_ext.auth.guard import ROLE_RANK
from geopera_stac_ext.core.errors import GeoperaError, SetupError
from geopera_stac_ext.core.logredact import install_redaction
from geopera_stac_ext.core.settings import Settings
from geopera_stac_ext.db.session import database, emit, run_db
from geopera_stac_ext.pgstac.version import ensure_migrated
from geopera_stac_ext.ingest import cli as ingest_cli
from geopera_stac_ext.lifecycle import commands as lifecycle_commands
from geopera_stac_ext.storage import commands as storage_commands

log = logging.getLogger("geopera_stac_ext.cli")


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
        from geopera_stac_ext.app import create_app, settle_heap

        app = create_app(settings, pg_env=env)
        settle_heap()
        uvicorn.run(app, **common)
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


AdminFactory = Callable[[argparse.Namespace, Settings], Callable[[Any], Awaitable[Any]]]
# NOTE: every command module, listed once. Each `register(sub, admin_sub)` adds its parsers
# (setting `func` on top-level ones) and returns the factories of the admin subcommands it
# added; CONTRIBUTING.md "Adding a command".
COMMAND_MODULES = (lifecycle_commands, ingest_cli, admin_commands, storage_commands)


def _admin(args: argparse.Namespace, settings: Settings) -> int:
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
    for name, factory in args.admin_factories.items():
        handlers[name] = factory(args, settings)
    with database(settings) as env:
        ensure_migrated(env)
        emit(run_db(env, handlers[args.admin_cmd]))
    return 0


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
    x.add_argument("--role", required=True, choices=list(ROLE_RANK))
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
    factories: dict[str, AdminFactory] = {}
    for module in COMMAND_MODULES:
        factories.update(module.register(sub, asub))
    a.set_defaults(func=_admin, admin_factories=factories)
    return p


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(level=args.log_level.upper(), stream=sys.stderr,
                        format="%(asctime)s %(levelname)s %(name)s %(message)s")
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
    sys.exit(main())
