# The API service for docker-compose.yml: capacities-kb against a Qdrant server (KB_QDRANT_URL).
FROM python:3.11-slim
ENV PIP_NO_CACHE_DIR=1 HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 DO_NOT_TRACK=true \
    KB_DATA_DIR=/data KB_HOST=0.0.0.0 KB_PORT=8000
WORKDIR /app
COPY pyproject.toml constraints.txt README.md ./
COPY ingest ingest
COPY kb kb
COPY api api
COPY eval eval
RUN pip install -c constraints.txt --extra-index-url https://download.pytorch.org/whl/cpu . \
    && useradd --create-home kb && mkdir -p /data && chown kb /data
COPY corpus corpus
USER kb
EXPOSE 8000
HEALTHCHECK --interval=30s --timeout=5s --retries=5 CMD python -c "import urllib.request as u; u.urlopen('http://127.0.0.1:8000/health', timeout=4)"
CMD ["sh", "-c", "kb ingest corpus/ --sync; exec kb serve --host 0.0.0.0 --port 8000"]
