# Trainer and service image (CPU JAX; GPU/TPU images swap the jax extra).
FROM python:3.11-slim

# tcmalloc removes the per-step page faults of glibc malloc under XLA:CPU (docs/performance.md),
# preloaded image-wide so every process has it from its start; to run without it, pass
# `-e LD_PRELOAD= -e LC0_TRAIN_MALLOC=system` (the switch alone does not undo this preload).
RUN apt-get update \
 && apt-get install -y --no-install-recommends libtcmalloc-minimal4 make \
 && rm -rf /var/lib/apt/lists/*
ENV LD_PRELOAD=/usr/lib/x86_64-linux-gnu/libtcmalloc_minimal.so.4 \
    TCMALLOC_RELEASE_RATE=0 \
    PYTHONUNBUFFERED=1

WORKDIR /opt/lc0-train
COPY pyproject.toml README.md ./
COPY proto ./proto
COPY workers ./workers
COPY service ./service
COPY configs ./configs
RUN pip install --no-cache-dir .

ENTRYPOINT ["lc0-train"]
CMD ["--help"]
