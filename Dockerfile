# syntax=docker/dockerfile:1
# One image for every Tarif process: `tarif engine` (the default), `tarif batch`,
# `tarif admin serve`, `tarif migrate`, and the operators' commands. docs/deploy.md tells how
# to build and run it, and deploy/compose.yaml runs the whole set.
#
#   docker build -t tarif .
#   docker run --rm -e REDIS_URL=redis://redis:6379/0 -p 50051:50051 tarif engine

# The Python the wheel is tested with here (tests/e2e/test_wheel_install.py).
ARG PYTHON_VERSION=3.11

# --- build: the generated gRPC code, the tarif wheel, and wheels of everything it needs ------
FROM python:${PYTHON_VERSION}-slim AS build
WORKDIR /src
RUN pip install --no-cache-dir "grpcio-tools>=1.66,<2"
COPY . .
RUN PYTHON=python deploy/build-wheel.sh /wheels \
 && pip wheel --no-cache-dir --wheel-dir /wheels /wheels/tarif-*.whl

# --- runtime: the wheels installed, no compilers, no sources, a user that is not root -------
FROM python:${PYTHON_VERSION}-slim AS runtime
ARG UID=10001
RUN groupadd --system --gid "${UID}" tarif \
 && useradd --system --uid "${UID}" --gid tarif --home-dir /var/lib/tarif --create-home \
      --shell /usr/sbin/nologin tarif
RUN --mount=type=bind,from=build,source=/wheels,target=/wheels \
    pip install --no-cache-dir --no-index --find-links=/wheels tarif
# the demo catalog and subscribers, for `tarif provision /usr/share/tarif/examples/demo.yaml`
COPY --from=build /src/examples/ /usr/share/tarif/examples/

# Listen on every interface of the container (the defaults are loopback). A process that dials
# the engine (batch, admin API, CLI) sets TARIF_GRPC_ADDR to the engine's address instead.
ENV PYTHONUNBUFFERED=1 \
    TARIF_GRPC_ADDR=0.0.0.0:50051 \
    TARIF_METRICS_ADDR=0.0.0.0:9464 \
    TARIF_BATCH_METRICS_ADDR=0.0.0.0:9465 \
    TARIF_ADMIN_ADDR=0.0.0.0:8080 \
    TARIF_STATE_DIR=/var/lib/tarif/state \
    TARIF_LOG_FORMAT=json
USER ${UID}:${UID}
WORKDIR /var/lib/tarif
EXPOSE 50051 9464 9465 8080

# The engine's gRPC health; a batch or admin API container overrides it with `tarif health
# batch` / `tarif health admin` (GET /healthz), as deploy/compose.yaml does.
HEALTHCHECK --interval=10s --timeout=5s --start-period=30s --retries=3 \
    CMD ["tarif", "health", "engine"]
ENTRYPOINT ["tarif"]
CMD ["engine"]
