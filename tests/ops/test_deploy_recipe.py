"""The production recipe: the image's entrypoint and bootstrap run for real; compose is checked.

NOTE: there is no Docker engine on this machine, so the image is not built here. What runs is
exactly what the image runs (docker/entrypoint.sh, docker/bootstrap.sh, `geopera-stac` on PATH)
against the test database; the Dockerfile and compose file are checked for what they reference.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import httpx
import yaml

from conftest import bearer, ok
from geopera_stac_ext.core.settings import Settings, dsn_from_env
from test_embedded import free_port

REPO = Path(__file__).resolve().parents[2]
ENTRYPOINT = REPO / "docker" / "entrypoint.sh"
# NOTE: 32+ bytes and not a placeholder or a repeated character: the service refuses those.
SECRET = "Vq3rX8kLp2Zt7WmN4sYc9HbD6fJg1QaEuR5oTi0"


def _env(db_env=None, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("PG", "GEOPERA_")) and k != "DATABASE_URL"}
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env['PATH']}"
    if db_env is not None:
        env["DATABASE_URL"] = dsn_from_env(db_env)
    env.update(extra)
    return env


def _run(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run([str(ENTRYPOINT), *args], env=env, capture_output=True, text=True,
                          timeout=180)


def test_entrypoint_refuses_to_start_without_its_secrets(db_env, tmp_path):
    home = str(tmp_path)
    cases = [
        (_env(GEOPERA_SIGNING_SECRET=SECRET, GEOPERA_HOME=home), "set DATABASE_URL"),
        (_env(db_env, GEOPERA_HOME=home), "set GEOPERA_SIGNING_SECRET"),
        (_env(db_env, GEOPERA_SIGNING_SECRET="short", GEOPERA_HOME=home), "at least 32"),
        (_env(DATABASE_URL="postgresql://geopera@db:5432/geopera", GEOPERA_SIGNING_SECRET=SECRET,
              GEOPERA_HOME=home), "database password is not set"),
    ]
    for env, message in cases:
        res = _run(["migrate"], env)
        assert res.returncode == 2 and res.stdout == "", res
        assert res.stderr.strip().splitlines() == [res.stderr.strip()] and message in res.stderr


def test_entrypoint_migrates_bootstraps_and_serves_a_working_key(db_env, tmp_path):
    env = _env(db_env, GEOPERA_SIGNING_SECRET=SECRET, GEOPERA_HOME=str(tmp_path),
               GEOPERA_STORAGE_DIR=str(tmp_path / "storage"))
    migrated = _run(["migrate"], env)
    assert migrated.returncode == 0, migrated.stderr
    assert json.loads(migrated.stdout)["applied"] == []  # the template is migrated already

    boot = _run(["bootstrap", "--org", "Acme", "--project", "Field ops", "--email",
                 "admin@acme.example"], env)
    assert boot.returncode == 0, boot.stderr
    first = json.loads(boot.stdout)
    assert first["api_key"].startswith("gpra_") and first["scopes"]
    again = _run(["bootstrap", "--org", "Acme", "--project", "Field ops", "--email",
                  "admin@acme.example"], env)
    assert again.returncode == 2 and "already exists" in again.stderr and again.stdout == ""
    orgs = json.loads(_run(["admin", "list-orgs"], env).stdout)
    assert [o["name"] for o in orgs] == ["Acme"]  # the refused run created nothing

    port = free_port()
    server = subprocess.Popen([str(ENTRYPOINT), "serve", "--host", "127.0.0.1", "--port",
                               str(port)], env=env, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True)
    try:
        base = f"http://127.0.0.1:{port}"
        _wait(base, server)
        me = ok(httpx.post(f"{base}/v1/op/auth.whoami", json={},
                           headers=bearer(first["api_key"])))
        assert me["memberships"] == [{"org_id": first["org_id"], "org_name": "Acme",
                                      "role": "owner"}]
        project = ok(httpx.post(f"{base}/v1/op/collections.list", headers=bearer(
            first["api_key"]), json={"project_id": first["project_id"]}))
        assert project == [] or project.get("collections") == []
        # The compose healthcheck's own command, pointed at this port, passes.
        check = _compose()["services"]["api"]["healthcheck"]["test"]
        cmd = [c.replace("127.0.0.1:8080", f"127.0.0.1:{port}") for c in check[1:]]
        assert subprocess.run(cmd, env=env, timeout=30).returncode == 0
    finally:
        server.terminate()
        server.wait(timeout=60)


def test_entrypoint_lifecycle_role_runs_the_job_repeatedly(db_env, tmp_path):
    env = _env(db_env, GEOPERA_SIGNING_SECRET=SECRET, GEOPERA_HOME=str(tmp_path),
               GEOPERA_LIFECYCLE_EVERY_SECONDS="1")
    job = subprocess.Popen([str(ENTRYPOINT), "lifecycle"], env=env, stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, text=True)
    try:
        runs = [json.loads(job.stdout.readline()) for _ in range(2)]
    finally:
        job.terminate()
        job.wait(timeout=30)
    assert [r["ran"] for r in runs] == [True, True] and runs[0]["items"] == 0


def _wait(base: str, proc: subprocess.Popen) -> None:
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        assert proc.poll() is None, proc.stderr.read()
        try:
            if httpx.get(f"{base}/_mgmt/ping", timeout=2).status_code == 200:
                return
        except httpx.TransportError:
            time.sleep(0.3)
    raise AssertionError("the entrypoint's server did not answer")


def _compose() -> dict:
    return yaml.safe_load((REPO / "docker-compose.yml").read_text())


def test_compose_file_references_what_exists():
    compose = _compose()
    services = compose["services"]
    assert set(services) == {"database", "migrate", "api", "lifecycle"}
    roles = set(re.findall(r"^  (\w[\w|-]*)\)", ENTRYPOINT.read_text(), re.M))
    for name in ("migrate", "api", "lifecycle"):
        svc = services[name]
        assert svc["build"] == "." and (REPO / "Dockerfile").is_file()
        assert svc["command"][0] in roles, (name, svc["command"], roles)
        for var, value in svc["environment"].items():
            if var.startswith("GEOPERA_") and var != "GEOPERA_LIFECYCLE_EVERY_SECONDS":
                assert var.removeprefix("GEOPERA_").lower() in Settings.model_fields, var
            assert "change-me" not in str(value)
        assert "GEOPERA_LIFECYCLE_EVERY_SECONDS" in ENTRYPOINT.read_text()
    # Secrets only from the environment, required (compose refuses to start without them).
    env = services["api"]["environment"]
    assert "${POSTGRES_PASSWORD:?" in env["DATABASE_URL"]
    assert env["GEOPERA_SIGNING_SECRET"].startswith("${GEOPERA_SIGNING_SECRET:?")
    assert services["database"]["environment"]["POSTGRES_PASSWORD"].startswith(
        "${POSTGRES_PASSWORD:?")
    api = services["api"]
    assert api["deploy"]["replicas"] == 2 and api["restart"] == "unless-stopped"
    assert api["healthcheck"]["test"][0] == "CMD"
    assert api["depends_on"]["migrate"]["condition"] == "service_completed_successfully"
    assert services["lifecycle"]["restart"] == "unless-stopped"
    assert services["migrate"]["depends_on"]["database"]["condition"] == "service_healthy"
    assert "healthcheck" in services["database"]
    assert set(compose["volumes"]) == {"pgdata", "storage"}


def test_dockerfile_is_multi_stage_pinned_non_root_and_ships_what_it_copies():
    text = (REPO / "Dockerfile").read_text()
    stages = re.findall(r"^FROM (\S+) AS (\w+)", text, re.M)
    assert [s[1] for s in stages] == ["build", "runtime"]
    base = re.search(r"^ARG PYTHON_IMAGE=(\S+)", text, re.M).group(1)
    assert re.fullmatch(r"python:3\.11\.\d+-slim-bookworm", base)  # a pinned version, not a tag
    for src in re.findall(r"^COPY (?!--from)(.+) \S+$", text, re.M):
        for path in src.split():
            assert (REPO / path).exists(), path
    assert "COPY pgstac_migrations" in text  # the migrations are in the image
    users = re.findall(r"^USER (\S+)", text, re.M)
    assert users and users[-1].split(":")[0] not in ("0", "root")
    assert re.search(r'^ENTRYPOINT \["geopera-entrypoint"\]', text, re.M)
    assert "COPY docker/entrypoint.sh /usr/local/bin/geopera-entrypoint" in text
    assert "COPY docker/bootstrap.sh /usr/local/bin/geopera-bootstrap" in text
    assert os.access(ENTRYPOINT, os.X_OK) and os.access(REPO / "docker/bootstrap.sh", os.X_OK)
