# syntax=docker/dockerfile:1
# bids_lrp: a BIDS App (LRP heatmaps for Alzheimer's disease classification of T1w MRI).
# The image holds a CUDA build of PyTorch, ANTsPy, the shipped model, the bundled atlases and the
# TemplateFlow files the app uses, so that a run never downloads anything. See README.md.
#
#   docker build -t bids_lrp:0.1.0 .
#   docker build -t bids_lrp:0.1.0-cpu --build-arg TORCH_INDEX=https://download.pytorch.org/whl/cpu .
#
# Python, torch and the version are build arguments; VERSION must equal bids_lrp.__version__
# (the last build step checks it, and so does tests/containers/test_dockerfile.py).
ARG PYTHON_IMAGE=python:3.11-slim-bookworm
ARG VERSION=0.1.0
# CUDA 12.8 wheels: they bundle the CUDA runtime, so the host needs only an NVIDIA driver (>= 570;
# >= 525 through CUDA minor-version compatibility). PyPI's Linux torch 2.13.0 wheel is a CUDA 13
# build (driver >= 580): TORCH_INDEX=https://pypi.org/simple selects it.
ARG TORCH_VERSION=2.13.0
ARG TORCH_INDEX=https://download.pytorch.org/whl/cu128
ARG TEMPLATEFLOW_VERSION=25.1.2

# ---- base: shared by every stage ----------------------------------------------------------------
FROM ${PYTHON_IMAGE} AS base
ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PYTHONUNBUFFERED=1

# ---- builder: a virtual environment with torch, the dependencies and the bids_lrp wheel --------
FROM base AS builder
ARG TORCH_VERSION
ARG TORCH_INDEX
RUN python -m venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH
# torch first, from the chosen index: the project asks only for "torch>=2.1", so pip then keeps
# this build and pulls no other one.
RUN pip install --no-cache-dir --index-url "${TORCH_INDEX}" "torch==${TORCH_VERSION}"
WORKDIR /src
# The dependencies before the code, so that a code change does not reinstall them (layer cache).
COPY pyproject.toml ./
COPY docker/requirements.py docker/
RUN python docker/requirements.py pyproject.toml > /tmp/requirements.txt \
    && pip install --no-cache-dir -r /tmp/requirements.txt
COPY README.md ./
COPY bids_lrp ./bids_lrp
# A real wheel (not an editable install): it carries the shipped model as package data.
RUN pip wheel --no-cache-dir --no-deps --wheel-dir /tmp/wheels . \
    && pip install --no-cache-dir --no-deps /tmp/wheels/bids_lrp-*.whl \
    && pip check

# ---- templates: the TemplateFlow files, fetched once at build time ------------------------------
FROM base AS templates
ARG TEMPLATEFLOW_VERSION
# templateflow (and its pybids) is needed only here, in its own environment: not in the image.
RUN python -m venv /opt/tf-venv \
    && /opt/tf-venv/bin/pip install --no-cache-dir "templateflow==${TEMPLATEFLOW_VERSION}"
COPY docker/prefetch_templates.py /tmp/
RUN TEMPLATEFLOW_HOME=/tmp/templateflow-cache \
    /opt/tf-venv/bin/python /tmp/prefetch_templates.py --out /opt/templateflow

# ---- runtime ------------------------------------------------------------------------------------
FROM base AS runtime
ARG VERSION
ARG TORCH_INDEX
LABEL org.opencontainers.image.title="bids_lrp" \
      org.opencontainers.image.description="BIDS App: layer-wise relevance propagation for deep-learning Alzheimer's disease classification of T1w MRI (Boehle et al. 2019)" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.licenses="Apache-2.0" \
      org.opencontainers.image.source="https://github.com/bids-lrp/bids_lrp"
# A non-root user. Its HOME is world-writable with the sticky bit (like /tmp) because the image
# must also run as any other uid (docker run -u "$(id -u):$(id -g)", so that outputs belong to
# the caller) and small caches (matplotlib, the BIDS validator's Deno) are written under HOME.
RUN useradd --no-log-init --create-home --home-dir /home/bids_lrp --uid 1000 --user-group bids_lrp \
    && chmod 1777 /home/bids_lrp
COPY --from=builder /opt/venv /opt/venv
COPY --from=templates /opt/templateflow /opt/templateflow
COPY docker/check_image.py /usr/local/share/bids_lrp/check_image.py
# OMP/MKL threads: 1 by default because bids_lrp sets the threads of each process itself
# (--omp-nthreads); libraries that read these variables would otherwise each start one thread
# per core in every one of the --nprocs processes. NIPYPE_NO_ET: no version check over the
# network. PYTHONNOUSERSITE: never import packages from a host's ~/.local (Singularity mounts
# the host HOME). TEMPLATEFLOW_HOME is read-only and complete: nothing is downloaded.
# MPLCONFIGDIR is left unset on purpose: bids_lrp then uses $HOME/.cache/matplotlib, writable
# here (above) and under Singularity (the host HOME); a fixed /tmp path would be shared by all
# users of a cluster node under Singularity, and only its first user could write to it.
# BIDS_LRP_IMAGE: the outputs' provenance (GeneratedBy.Container) names this image only where
# it is set; /.dockerenv exists in any Docker container and proves nothing.
ENV PATH=/opt/venv/bin:$PATH \
    BIDS_LRP_IMAGE=bids_lrp:${VERSION} \
    HOME=/home/bids_lrp \
    TEMPLATEFLOW_HOME=/opt/templateflow \
    NIPYPE_NO_ET=1 \
    OMP_NUM_THREADS=1 \
    MKL_NUM_THREADS=1 \
    PYTHONNOUSERSITE=1 \
    PYTHONDONTWRITEBYTECODE=1
# Numeric, so that a runtime can verify it is not root (Kubernetes runAsNonRoot); 1000 = bids_lrp.
USER 1000:1000
WORKDIR /tmp
# Fails the build unless the environment is complete (version, CUDA build, model, templates,
# atlases, commands); runs as the non-root user, without a GPU and without the network.
RUN python /usr/local/share/bids_lrp/check_image.py --version "${VERSION}" --torch-index "${TORCH_INDEX}"
ENTRYPOINT ["bids_lrp"]
