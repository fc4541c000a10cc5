# facecast API (and CPU workers): `docker build -t facecast .`, then see docker-compose.yml and docs/deploy.md.
FROM python:3.11-slim AS build
# The CPU build of torch (the neural renderer's extra) is installed first so the project's install keeps it.
ARG TORCH_SPEC="torch==2.13.0"
ARG TORCH_INDEX="https://download.pytorch.org/whl/cpu"
ARG EXTRAS="all"
RUN python -m venv /opt/facecast
ENV PATH=/opt/facecast/bin:$PATH
RUN pip install --no-cache-dir --upgrade pip \
 && pip install --no-cache-dir --index-url "$TORCH_INDEX" "$TORCH_SPEC"
WORKDIR /src
COPY pyproject.toml README.md ./
COPY facecast ./facecast
RUN pip install --no-cache-dir ".[$EXTRAS]"

FROM python:3.11-slim
# libgl1 and libglib2.0-0: OpenCV and MediaPipe load them; fonts-wqy-microhei: CJK burned-in subtitles.
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends libgl1 libglib2.0-0 fonts-wqy-microhei \
 && rm -rf /var/lib/apt/lists/* \
 && useradd --system --uid 10001 --home-dir /data --shell /usr/sbin/nologin facecast \
 && mkdir -p /data && chown facecast:facecast /data
COPY --from=build /opt/facecast /opt/facecast
ENV PATH=/opt/facecast/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    FACECAST_DATA_DIR=/data \
    FACECAST_HOST=0.0.0.0 \
    FACECAST_PORT=8000
USER facecast
WORKDIR /data
VOLUME /data
EXPOSE 8000
# A bind on 0.0.0.0 needs FACECAST_API_KEYS (or FACECAST_ALLOW_UNAUTHENTICATED=true behind an authenticating proxy).
HEALTHCHECK --interval=30s --timeout=5s --start-period=60s --retries=3 \
  CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8000/healthz', timeout=4)"]
CMD ["facecast", "serve"]
