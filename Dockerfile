# One image for both processes: the web (gunicorn, the default command) and the worker
# (`python manage.py rundramatiq`, see compose.yaml).

# ---- build: the dependencies, in a virtual environment copied whole into the final stage
FROM python:3.11-slim AS build
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
RUN python -m venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH
COPY requirements.txt /tmp/requirements.txt
RUN pip install -r /tmp/requirements.txt

# ---- final: the venv and the code; no compilers, no pip cache, not root
FROM python:3.11-slim
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PATH=/opt/venv/bin:$PATH \
    STATIC_ROOT=/app/staticfiles
RUN useradd --system --uid 10001 --user-group --home-dir /app --shell /usr/sbin/nologin site
WORKDIR /app
COPY --from=build /opt/venv /opt/venv
COPY --chown=site:site . .
# Static files are collected into the image; the key only lets settings load for it.
RUN DEBUG=true SECRET_KEY=collectstatic-only python manage.py collectstatic --no-input -v0 \
    && mkdir -p var && chown site:site var
USER site

EXPOSE 8000
# The web's readiness (compose.yaml gives the worker a check of its own).
HEALTHCHECK --interval=10s --timeout=5s --start-period=10s --retries=5 \
    CMD ["python", "-m", "site_config.probe", "http://127.0.0.1:8000/readyz"]
# Workers and the rest: site_config/gunicorn.py (WEB_CONCURRENCY, else 2 per core + 1).
CMD ["gunicorn", "-c", "python:site_config.gunicorn", "site_config.wsgi:application"]
