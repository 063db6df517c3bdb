# One image for the user-code server, the webserver and the daemon (docker-compose.yml).
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    DAGSTER_HOME=/opt/dagster/dagster_home

WORKDIR /opt/dagster/app
COPY pyproject.toml README.md ./
COPY tracos_integration ./tracos_integration
# deploy: PostgreSQL storage; docker: the Docker run launcher (deploy/run-launchers/docker.yaml).
# No demo extra: the image runs against MongoDB (mongodb://); MONGO_URI=mongomock:// or
# embedded:// here fails with one line saying to install the demo extra.
RUN pip install ".[deploy,docker]"

COPY deploy/dagster.yaml ${DAGSTER_HOME}/dagster.yaml
COPY deploy/workspace.yaml /opt/dagster/workspace.yaml
RUN mkdir -p /data/inbound /data/outbound

EXPOSE 3000 4000
CMD ["dagster", "api", "grpc", "-h", "0.0.0.0", "-p", "4000", "-m", "tracos_integration"]
