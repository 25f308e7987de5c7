# Trainer and service image. CPU JAX by default; the build arg ACCELERATOR picks the jax
# wheels of the pyproject extra of that name:
#   docker build .                                   # cpu
#   docker build --build-arg ACCELERATOR=gpu .       # NVIDIA GPUs (CUDA 12 wheels, only the driver needed)
#   docker build --build-arg ACCELERATOR=tpu .       # Cloud TPU VMs (libtpu)
# Runs as the unprivileged user `lc0` (uid LC0_UID); the job storage and database
# directories below are owned by it, so named volumes mounted there are writable.
FROM python:3.11-slim
ARG ACCELERATOR=cpu
ARG LC0_UID=10001

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
RUN case "$ACCELERATOR" in \
      cpu) pip install --no-cache-dir . ;; \
      gpu|tpu) pip install --no-cache-dir ".[$ACCELERATOR]" ;; \
      *) echo "ACCELERATOR must be cpu, gpu or tpu, not '$ACCELERATOR'" >&2; exit 1 ;; \
    esac

RUN useradd --uid "$LC0_UID" --create-home --shell /usr/sbin/nologin lc0 \
 && mkdir -p /data/jobs /state \
 && chown lc0:lc0 /data/jobs /state
USER lc0
# gRPC (`serve --address`) and Prometheus /metrics (`serve --metrics-port`).
EXPOSE 50051 9464

ENTRYPOINT ["lc0-train"]
CMD ["--help"]
