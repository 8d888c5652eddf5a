"""Service configuration from the environment (pydantic-settings)."""

from __future__ import annotations

import os
from functools import cached_property
from pathlib import Path
from urllib.parse import urlparse, unquote

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

PG_VARS = ("PGHOST", "PGPORT", "PGUSER", "PGPASSWORD", "PGDATABASE")


class Settings(BaseSettings):
    """All knobs of the service; every field maps to an environment variable."""

    model_config = SettingsConfigDict(env_prefix="GEOPERA_", extra="ignore")

    home: Path = Path(".geopera")
    database_url: str | None = Field(default=None, validation_alias="DATABASE_URL")
    # NOTE: a streaming replica of that database: searches and other reads go there, writes
    # to the primary; read-your-writes via the X-Geopera-LSN header (docs/deploy.md).
    read_database_url: str | None = None
    # NOTE: signs download URLs; when unset a random per-home secret is generated and kept
    # in $GEOPERA_HOME/signing-key (0600) so URLs survive restarts.
    signing_secret: SecretStr | None = None
    # NOTE: set by `serve --demo`: only then may a configured signing secret be short.
    demo: bool = False
    storage_dir: Path | None = None
    max_body_bytes: int = 1_048_576
    db_pool_max: int = 10
    # A search still running after this is cancelled and answered 503 (exact counts over
    # millions of matches); see docs/search.md.
    search_timeout_ms: int = Field(default=30_000, ge=1)
    # Fairness (docs/security.md "Limits and fairness"): request geometries are bounded; one
    # user runs at most this many searches at once (429 + Retry-After beyond, across every
    # process on the database); a request that cannot get a pooled connection within the
    # acquire timeout is answered 503 + Retry-After instead of queueing.
    max_geometry_vertices: int = Field(default=10_000, ge=4)
    max_geometry_bytes: int = Field(default=512 * 1024, ge=1024)
    search_concurrency_per_user: int = Field(default=3, ge=1, le=1000)
    db_acquire_timeout_seconds: float = Field(default=5.0, gt=0)
    lifecycle_interval_seconds: float = 0  # 0 = the in-process lifecycle job is off
    # Retention (free plan): active → expiring at retention - warning, → expired at retention,
    # → deleted after the grace period. Paid plan: active → archived after archive_after_days.
    free_retention_days: float = 30
    expiry_warning_days: float = 7
    expired_grace_days: float = 30
    paid_archive_after_days: float = 365
    lifecycle_batch_size: int = 500
    # Downloads (docs/downloads-lifecycle.md): per-asset grants per window, and the
    # per-organization bandwidth breaker (bytes granted per sliding window), per plan.
    asset_download_limit_free: int = 30
    asset_download_limit_paid: int = 300
    asset_download_window_seconds: float = 3600
    egress_budget_bytes_free: int = 10 * 1024**3
    egress_budget_bytes_paid: int = 1024**4
    egress_window_seconds: float = 86400
    # NOTE: absolute base of local signed URLs when an op runs outside HTTP (else the request's).
    public_url: str | None = None
    s3_endpoint_url: str | None = None  # e.g. a MinIO/moto server; credentials: AWS_* / boto3
    s3_region: str = "us-east-1"
    # NOTE: the XML API endpoint for HEAD/signed URLs; unset = https://storage.googleapis.com.
    gcs_endpoint_url: str | None = None
    gcs_credentials_file: Path | None = None  # service-account JSON; else GOOGLE_APPLICATION_CREDENTIALS
    # NOTE: browser origins allowed to call the API: `*` (default: the key travels in an
    # Authorization header, never a cookie, so no ambient credentials are exposed), a comma
    # list of exact origins, or empty to send no CORS headers at all. Credentials are never
    # allowed (see docs/clients.md).
    cors_origins: str = "*"

    @property
    def cors_origin_list(self) -> list[str]:
        return [o.strip().rstrip("/") for o in self.cors_origins.split(",") if o.strip()]

    @cached_property
    def resolved_storage_dir(self) -> Path:
        return (self.storage_dir or self.home / "storage").resolve()


def external_pg_env(settings: Settings) -> dict[str, str] | None:
    """PG* variables for a configured server, or None to use the embedded cluster."""
    if settings.database_url:
        return pg_env_from_url(settings.database_url, "DATABASE_URL")
    if any(os.environ.get(v) for v in ("PGHOST", "PGDATABASE", "PGPORT")):
        return {
            "PGHOST": os.environ.get("PGHOST", "127.0.0.1"),
            "PGPORT": os.environ.get("PGPORT", "5432"),
            "PGUSER": os.environ.get("PGUSER", "postgres"),
            "PGPASSWORD": os.environ.get("PGPASSWORD", ""),
            "PGDATABASE": os.environ.get("PGDATABASE", "postgres"),
        }
    return None


def pg_env_from_url(url: str, name: str) -> dict[str, str]:
    """PG* variables of a postgresql:// URL (`name` is the setting, for the error)."""
    u = urlparse(url)
    if u.scheme not in ("postgres", "postgresql"):
        from geopera_stac_ext.core.errors import SetupError

        raise SetupError(f"{name} must be a postgresql:// URL")
    return {
        "PGHOST": u.hostname or "127.0.0.1",
        "PGPORT": str(u.port or 5432),
        "PGUSER": unquote(u.username or "postgres"),
        "PGPASSWORD": unquote(u.password or ""),
        "PGDATABASE": (u.path or "/postgres").lstrip("/") or "postgres",
    }


def read_pg_env(settings: Settings) -> dict[str, str] | None:
    """PG* variables of the read replica (GEOPERA_READ_DATABASE_URL), or None: reads use the
    primary."""
    if not settings.read_database_url:
        return None
    return pg_env_from_url(settings.read_database_url, "GEOPERA_READ_DATABASE_URL")


def dsn_from_env(env: dict[str, str]) -> str:
    from urllib.parse import quote

    return (
        f"postgresql://{quote(env['PGUSER'])}:{quote(env['PGPASSWORD'])}@{env['PGHOST']}:"
        f"{env['PGPORT']}/{quote(env['PGDATABASE'])}"
    )
