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

from geopera_stac_ext.errors import GeoperaError, SetupError
from geopera_stac_ext.settings import Settings, dsn_from_env, external_pg_env

log = logging.getLogger("geopera_stac_ext.cli")


@contextmanager
def database(settings: Settings, *, durable: bool = True) -> Iterator[dict[str, str]]:
    """PG* env of the configured server, or of the embedded cluster (stopped after if we started it)."""
    env = external_pg_env(settings)
    if env is not None:
        yield env
        return
    from geopera_stac_ext.db.embedded import EmbeddedCluster

    cluster = EmbeddedCluster(settings.home, durable=durable).start()
    try:
        yield cluster.env()
    finally:
        cluster.stop()


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
    from geopera_stac_ext.db.migrate import migrate

    return migrate(dsn_from_env(env))


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


def _serve(args: argparse.Namespace, settings: Settings, uvicorn: Any) -> int:
    from geopera_stac_ext.storage.signing import check_signing_secret

    settings.demo = bool(args.demo)
    # NOTE: before the database starts: a bad secret is one line and exit 2, nothing else.
    check_signing_secret(settings, demo=settings.demo)
    with database(settings) as env:
        ensure_migrated(env)
        if args.demo:
            from geopera_stac_ext.demo import seed_demo

            info = run_db(env, lambda c: seed_demo(c, settings))
            info["base_url"] = f"http://{args.host}:{args.port}"
            emit(info)
            print(f"demo ready: export GEOPERA_API_KEY={info['api_key']} "
                  f"PROJECT_ID={info['project_id']} GEOPERA_BASE_URL={info['base_url']}",
                  file=sys.stderr, flush=True)
        os.environ.update(env)
        from geopera_stac_ext.app import create_app

        app = create_app(settings, pg_env=env)
        uvicorn.run(app, host=args.host, port=args.port, log_level=args.log_level)
    return 0


def _admin(args: argparse.Namespace, settings: Settings) -> int:
    from geopera_stac_ext import tenancy

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


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="geopera-stac", description=__doc__)
    p.add_argument("--log-level", default=os.environ.get("GEOPERA_LOG_LEVEL", "info"))
    sub = p.add_subparsers(dest="cmd", required=True)

    s = sub.add_parser("serve", help="serve the op API and the STAC API")
    s.add_argument("--host", default="127.0.0.1")
    s.add_argument("--port", type=int, default=8080)
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

    for mod in ("geopera_stac_ext.lifecycle.cli", "geopera_stac_ext.loader",
                "geopera_stac_ext.storage.admin_cli"):
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
    from geopera_stac_ext.logredact import install_redaction

    install_redaction()
    try:
        return args.func(args, Settings())
    except (GeoperaError, SetupError) as e:
        detail = getattr(e, "detail", None) or str(e)
        print(f"geopera-stac: error: {detail}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    # NOTE: run the imported module's main, so plugins register into the same EXTRA_* lists.
    from geopera_stac_ext.cli import main as package_main

    sys.exit(package_main())
