# OpenBCS container image (docs/deploy.md). Built here without any image registry by scripts/build-image, which
# makes a Debian bookworm base with mmdebstrap and passes it as BASE; with Docker, the default BASE works as is:
#   docker build -t openbcs .
# Fabric 2.5's binaries (for --fabric-runtime local) are optional: put bin/ and config/ in a folder of the build
# context and pass --build-arg FABRIC_DIR=that/folder, or mount such a folder at run time and set OPENBCS_FABRIC_BIN.
ARG BASE=docker.io/library/python:3.11-slim-bookworm

# The runtime dependencies, read from pyproject.toml: a stage of its own, so that an edit elsewhere in pyproject.toml
# (a test extra, a tool's settings) leaves the list, and with it the layer that installs it, unchanged.
FROM ${BASE} AS requirements
COPY pyproject.toml /src/
RUN python3 -c 'import tomllib; print(*tomllib.load(open("/src/pyproject.toml", "rb"))["project"]["dependencies"], sep="\n")' \
    > /requirements.txt

FROM ${BASE} AS build
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_CACHE_DIR=1 PYTHONDONTWRITEBYTECODE=1
# The secret pip-ca (optional) is a CA bundle for reaching PyPI through a TLS-inspecting proxy; it is mounted for
# these steps only and is in no layer (scripts/build-image passes the host's bundle).
# First the dependencies alone, so that a change of the sources reuses this layer.
COPY --from=requirements /requirements.txt /tmp/requirements.txt
RUN --mount=type=secret,id=pip-ca \
    if [ -s /run/secrets/pip-ca ]; then export PIP_CERT=/run/secrets/pip-ca; fi \
    && python3 -m venv /opt/openbcs \
    && /opt/openbcs/bin/pip install --requirement /tmp/requirements.txt
WORKDIR /src
COPY pyproject.toml README.md LICENSE ./
COPY src/ src/
# Then the wheel, built in a throwaway venv (the runtime venv gets no build tools), installed without dependencies.
RUN --mount=type=secret,id=pip-ca \
    if [ -s /run/secrets/pip-ca ]; then export PIP_CERT=/run/secrets/pip-ca; fi \
    && python3 -m venv /opt/wheel-build \
    && /opt/wheel-build/bin/pip wheel --no-deps --wheel-dir /wheels . \
    && /opt/openbcs/bin/pip install --no-deps /wheels/openbcs-*.whl \
    && /opt/openbcs/bin/pip check \
    && /opt/openbcs/bin/pip uninstall --yes pip
COPY deploy/container/healthcheck.py /opt/openbcs/healthcheck.py

FROM ${BASE} AS runtime
ARG FABRIC_DIR=deploy/container/no-fabric
LABEL org.opencontainers.image.title="OpenBCS" \
      org.opencontainers.image.description="Self-hosted implementation of the Blockchain Service (BCS) v2 management API" \
      org.opencontainers.image.licenses="Apache-2.0"
# pg_dump and pg_restore, for `openbcs backup` and `restore` of a PostgreSQL database (docs/backup.md): in
# scripts/build-image's base already; on another base, Debian's postgresql-client (bookworm: 15, which dumps
# servers up to 15), whichever version the base's release has.
# hadolint ignore=DL3008
RUN if ! command -v pg_dump >/dev/null; then \
        apt-get update \
        && apt-get install -y --no-install-recommends postgresql-client \
        && rm -rf /var/lib/apt/lists/*; \
    fi
# A fixed uid/gid, so that Kubernetes' runAsNonRoot and fsGroup (deploy/kubernetes) can name them.
RUN groupadd --gid 10001 openbcs \
    && useradd --no-log-init --uid 10001 --gid openbcs --home-dir /var/lib/openbcs --no-create-home \
       --shell /usr/sbin/nologin openbcs \
    && mkdir -p /var/lib/openbcs \
    && chown openbcs:openbcs /var/lib/openbcs \
    && chmod 0700 /var/lib/openbcs
COPY --from=build /opt/openbcs /opt/openbcs
# Fabric's bin/ (orderer, peer, ...) and config/ (core.yaml, orderer.yaml) when FABRIC_DIR names them; by default
# only a README saying how to add them.
COPY ${FABRIC_DIR}/ /opt/fabric/
ENV PATH=/opt/openbcs/bin:/opt/fabric/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    OPENBCS_HOST=0.0.0.0 \
    OPENBCS_PORT=8080 \
    OPENBCS_DATA_DIR=/var/lib/openbcs
# The SQLite database, the server key, demo credentials, the self-signed TLS files and the local runtime's nodes.
VOLUME ["/var/lib/openbcs"]
WORKDIR /var/lib/openbcs
USER 10001:10001
EXPOSE 8080
# Asks /healthz on OPENBCS_PORT over HTTP, or HTTPS when OPENBCS_TLS_CERT or OPENBCS_TLS=self-signed is set.
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \
    CMD ["python3", "/opt/openbcs/healthcheck.py"]
ENTRYPOINT ["openbcs"]
CMD ["serve"]
