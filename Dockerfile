# 民情通 Minqing: the same app `make run` serves, in one image. Data lives in the /data volume.
FROM python:3.11-slim AS base
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 MINQING_DATA_DIR=/data
RUN apt-get update && apt-get install -y --no-install-recommends nodejs npm fonts-noto-cjk \
    && rm -rf /var/lib/apt/lists/*
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY pyproject.toml ./
COPY server ./server
RUN pip install --no-cache-dir -e .
COPY templates ./templates
COPY static ./static
RUN python -m server build-static && rm -rf node_modules
VOLUME /data
EXPOSE 8000
CMD ["python", "-m", "server", "serve", "--host", "0.0.0.0", "--port", "8000", "--seed-demo"]
