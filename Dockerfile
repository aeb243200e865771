# The production image: gunicorn serves the web app; the same image runs the Celery worker
# and beat (see docker-compose.yml).
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
WORKDIR /app

RUN useradd --create-home --uid 10001 cxhub
COPY pyproject.toml README.md ./
COPY cxhub ./cxhub
COPY locations ./locations
COPY surveys ./surveys
COPY metrics ./metrics
RUN pip install -e .
COPY . .
# collectstatic needs settings to load; the key is only used for this build step.
RUN DJANGO_DEBUG=false SECRET_KEY=build-only-collectstatic-key-not-used-at-run-time \
    python manage.py collectstatic --no-input --verbosity 0 \
 && mkdir -p /app/var/media && chown -R cxhub /app/var

USER cxhub
EXPOSE 8000
CMD ["gunicorn", "-c", "gunicorn.conf.py", "cxhub.wsgi"]
