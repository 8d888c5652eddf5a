# geopera-stac production image: build the wheel and its pinned dependencies in one stage,
# run them as a non-root user in a slim second stage. Migrations ship inside the package
# (geopera_stac_ext/pgstac_migrations); `docker/entrypoint.sh` is the entry point.
# NOTE: pin the base by digest too in your registry mirror (`python:3.11.11-slim-bookworm@sha256:…`).
ARG PYTHON_IMAGE=python:3.11.11-slim-bookworm

FROM ${PYTHON_IMAGE} AS build
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
WORKDIR /src
COPY pyproject.toml requirements.lock README.md ./
COPY src ./src
COPY pgstac_migrations ./pgstac_migrations
RUN python -m venv /opt/geopera \
 && /opt/geopera/bin/pip install -c requirements.lock . \
 && /opt/geopera/bin/geopera-stac --help >/dev/null

FROM ${PYTHON_IMAGE} AS runtime
ENV PATH=/opt/geopera/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    GEOPERA_HOME=/var/lib/geopera \
    GEOPERA_STORAGE_DIR=/data/storage
RUN groupadd --system --gid 10001 geopera \
 && useradd --system --uid 10001 --gid geopera --home-dir /var/lib/geopera --create-home geopera \
 && mkdir -p /data/storage && chown geopera:geopera /data/storage
COPY --from=build /opt/geopera /opt/geopera
COPY docker/entrypoint.sh /usr/local/bin/geopera-entrypoint
COPY docker/bootstrap.sh /usr/local/bin/geopera-bootstrap
USER 10001:10001
WORKDIR /var/lib/geopera
EXPOSE 8080
HEALTHCHECK --interval=10s --timeout=3s --start-period=30s --retries=3 \
  CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8080/_mgmt/ping', timeout=2)"]
ENTRYPOINT ["geopera-entrypoint"]
CMD ["serve"]
