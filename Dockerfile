# syntax=docker/dockerfile:1
# Two images from one file:
#   docker build --target bot    -t highlights-bot .     small: the bot and scheduler, no torch
#   docker build --target worker -t highlights-worker .  the detector with torch, for GPU (or CPU) workers
# compose.yaml runs PostgreSQL, one bot and N workers from them. Both images run the `highlights`
# command; the storage URL and the artifact root come from the environment (see .env.example).
#
# The worker installs torch (the `vision` extra) from PyPI (CUDA build on x86-64). For a CPU-only image, build with
#   --build-arg PIP_EXTRA_INDEX_URL=https://download.pytorch.org/whl/cpu
# and for ROCm use the matching PyTorch index instead.

FROM python:3.11-slim AS base
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_CACHE_DIR=1 PYTHONUNBUFFERED=1 \
    HIGHLIGHTS_ARTIFACTS=/data/artifacts
RUN useradd --create-home --uid 1000 highlights \
    && mkdir -p /data/artifacts && chown -R highlights /data
WORKDIR /app
COPY pyproject.toml README.md ./
COPY bot ./bot
COPY detector ./detector
COPY storage ./storage
COPY highlights ./highlights

# --- bot: discord.py and the PostgreSQL client; never torch -------------------------------------------
FROM base AS bot
RUN pip install ".[bot,postgres]" \
    && python -c "import bot, storage, sys; assert 'torch' not in sys.modules and 'detector' not in sys.modules" \
    && ! python -c "import torch" 2>/dev/null
USER highlights
WORKDIR /home/highlights
STOPSIGNAL SIGTERM
ENTRYPOINT ["highlights"]
CMD ["run", "--only", "bot,scheduler"]

# --- worker: torch and the detector; one process per GPU with --gpus N ----------------------------------
FROM base AS worker
ARG PIP_EXTRA_INDEX_URL=""
# libass needs fonts for burned-in captions and title cards; opencv-python needs libGL and GLib
RUN apt-get update && apt-get install -y --no-install-recommends fontconfig fonts-dejavu-core libgl1 libglib2.0-0 \
    && rm -rf /var/lib/apt/lists/*
RUN pip install ".[worker,vision,postgres]" && highlights params >/dev/null && highlights worker --help >/dev/null
USER highlights
WORKDIR /home/highlights
STOPSIGNAL SIGTERM
ENTRYPOINT ["highlights"]
CMD ["worker"]
