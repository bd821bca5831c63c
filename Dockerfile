FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1
WORKDIR /app

COPY pyproject.toml README.md ./
COPY monitor ./monitor
COPY storage ./storage
RUN pip install --upgrade pip && pip install .

COPY config ./config
RUN useradd --system --home /app news && mkdir -p /app/data && chown news /app/data
USER news

ENTRYPOINT ["news-monitor"]
CMD ["run"]
