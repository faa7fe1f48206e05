# The kubejit image: `kubejit serve` (the broker) and `kubejit gateway`, one image for both.
#
#   docker build -t ghcr.io/kubejit/kubejit:0.1.0 .
#
# Two stages. `build` turns the working tree into a wheel and installs it, with the versions pinned in
# constraints.txt and binary wheels only (no compiler is needed or present), into a venv at /opt/kubejit.
# The final stage is the same base image plus that venv and nothing else: no RUN, so no package manager, pip
# or compiler is ever run in it. It runs as uid/gid 65532 and writes only where volumes are mounted (see
# "Image" in docs/deployment.md). tests/unit/test_dockerfile.py checks these rules.

# The base, by exact version tag and by the digest of that tag's multi-platform index (checked for the tag
# python:3.11.15-slim). Both stages use it: the venv's interpreter is the base's /usr/local/bin/python3.11.
ARG PYTHON_IMAGE=docker.io/library/python:3.11.15-slim@sha256:90744cff8f32887f075c47d747a173ff333e9e98801667af93c357fa9f5e28ff

FROM ${PYTHON_IMAGE} AS build
ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_ROOT_USER_ACTION=ignore
RUN python -m pip install pip==26.3
WORKDIR /src
COPY pyproject.toml README.md constraints.txt ./
COPY src/ src/
# The wheel (hatchling, pinned in pyproject.toml) from the tree, then a venv without pip holding that wheel and
# its dependencies at the versions of constraints.txt; `kubejit --help` proves the venv imports.
RUN python -m pip wheel --no-deps --wheel-dir /dist . \
    && python -m venv --without-pip /opt/kubejit \
    && python -m pip --python /opt/kubejit/bin/python install --only-binary=:all: \
        --constraint constraints.txt /dist/kubejit-*.whl \
    && /opt/kubejit/bin/kubejit --help > /dev/null

FROM ${PYTHON_IMAGE}
ARG PYTHON_IMAGE
ARG VERSION=0.1.0
ARG REVISION=unknown
LABEL org.opencontainers.image.title="kubejit" \
      org.opencontainers.image.description="Just-In-Time access for Kubernetes: the broker (kubejit serve) and the gateway (kubejit gateway)" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${REVISION}" \
      org.opencontainers.image.source="https://github.com/kubejit/kubejit" \
      org.opencontainers.image.licenses="Apache-2.0" \
      org.opencontainers.image.base.name="${PYTHON_IMAGE}"
# Owned by root and not writable by the user below: the code cannot be changed by the process that runs it.
COPY --from=build /opt/kubejit /opt/kubejit
# HOME and TMPDIR point at /tmp, the one writable scratch place (an emptyDir in the chart); bytecode is compiled
# at install time, so nothing tries to write beside the modules.
ENV PATH="/opt/kubejit/bin:${PATH}" \
    HOME=/tmp \
    TMPDIR=/tmp \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1
USER 65532:65532
EXPOSE 8080 8443
ENTRYPOINT ["kubejit"]
CMD ["--help"]
