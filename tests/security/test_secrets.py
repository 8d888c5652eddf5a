"""Secrets: short or default signing secrets are refused at start-up (outside the demo), and
secret files are created with mode 0600 from their first byte."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from geopera_stac_ext.app import create_app
from geopera_stac_ext.core.errors import SetupError
from geopera_stac_ext.core.secretfile import write_private
from geopera_stac_ext.core.settings import Settings
from geopera_stac_ext.storage.signing import check_signing_secret, signing_secret

CLI = str(Path(sys.executable).parent / "geopera-stac")
REFUSED = ["short", "x" * 31, "change-me-in-production", "change-me-in-production-please-0123",
           "CHANGEME-CHANGEME-CHANGEME-CHANGEME", "a" * 64, "abababababababababababababababab"]


@pytest.mark.parametrize("secret", REFUSED)
def test_a_short_or_default_signing_secret_stops_create_app(tmp_path, secret):
    with pytest.raises(SetupError) as err:
        create_app(Settings(home=tmp_path, signing_secret=secret))
    assert "GEOPERA_SIGNING_SECRET" in str(err.value) and "\n" not in str(err.value)
    assert secret not in str(err.value)  # the refusal never echoes the secret


def test_the_demo_and_a_generated_secret_are_accepted(tmp_path):
    check_signing_secret(Settings(home=tmp_path, signing_secret="short"), demo=True)
    settings = Settings(home=tmp_path, signing_secret=None)
    create_app(settings)
    key = signing_secret(settings)
    assert len(key) >= 32
    assert stat.S_IMODE((tmp_path / "signing-key").stat().st_mode) == 0o600
    create_app(Settings(home=tmp_path, signing_secret=os.urandom(24).hex()))


def test_serve_with_a_default_secret_exits_2_with_one_line(tmp_path):
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("PG", "GEOPERA_")) and k != "DATABASE_URL"}
    env.update(GEOPERA_HOME=str(tmp_path), GEOPERA_SIGNING_SECRET="change-me-in-production",
               DATABASE_URL="postgresql://nobody@127.0.0.1:9/none")
    res = subprocess.run([CLI, "serve", "--port", "9"], env=env, capture_output=True,
                         text=True, timeout=60)
    assert res.returncode == 2, (res.stdout, res.stderr)
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("geopera-stac: error: GEOPERA_SIGNING_SECRET")
    assert "change-me-in-production" not in res.stderr and res.stdout == ""


def test_secret_files_are_created_0600_never_wider(tmp_path, monkeypatch):
    opened: list[tuple[str, int]] = []
    real_open = os.open

    def spy(path, flags, mode=0o777, *a, **kw):  # records what open(2) is asked for
        opened.append((str(path), mode))
        return real_open(path, flags, mode, *a, **kw)

    monkeypatch.setattr(os, "open", spy)
    old = os.umask(0)
    try:
        target = tmp_path / "pw"
        write_private(target, "s3cret")
        assert opened == [(str(target), 0o600)]
        assert stat.S_IMODE(target.stat().st_mode) == 0o600
        loose = tmp_path / "loose"
        loose.write_text("old")
        os.chmod(loose, 0o644)
        write_private(loose, "new")
        assert stat.S_IMODE(loose.stat().st_mode) == 0o600 and loose.read_text() == "new"
        link = tmp_path / "link"
        link.symlink_to(tmp_path / "elsewhere")
        with pytest.raises(OSError):
            write_private(link, "x")
        assert not (tmp_path / "elsewhere").exists()
        assert write_private(target, "other", exclusive=True) is False
        assert target.read_text() == "s3cret"
    finally:
        os.umask(old)


def test_the_embedded_clusters_password_file_is_0600(pg_cluster):
    assert stat.S_IMODE(pg_cluster.password_file.stat().st_mode) == 0o600
