# Briefing API, CPU only. Build: docker build -t briefing .
# Run:   docker run -p 8000:8000 -v briefing-data:/data briefing
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PIP_NO_CACHE_DIR=1 \
    HF_HUB_OFFLINE=1 \
    TRANSFORMERS_OFFLINE=1 \
    BRIEFING_DATA_DIR=/data \
    BRIEFING_HOST=0.0.0.0 \
    BRIEFING_PORT=8000

WORKDIR /app

# The CPU build of torch, pinned; an unpinned torch pulls gigabytes of CUDA wheels.
RUN pip install --index-url https://download.pytorch.org/whl/cpu torch==2.13.0

COPY pyproject.toml README.md ./
COPY corpus ./corpus
COPY embeddings ./embeddings
COPY service ./service
RUN pip install . \
    && useradd --system --home-dir /data briefing \
    && mkdir -p /data && chown briefing /data

USER briefing
VOLUME ["/data"]
EXPOSE 8000
HEALTHCHECK --interval=30s --timeout=5s --start-period=120s \
    CMD python -c "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8000/readyz')"
CMD ["briefing", "serve"]
