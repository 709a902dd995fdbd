# Debian 12 (bookworm) named, not the moving `slim` tag: its postgresql-client-15 matches the
# compose file's PostgreSQL 15. backup_export needs pg_dump of the server's major version
# (households/backup.py looks in /usr/lib/postgresql/15/bin first); a newer pg_dump writes
# dumps that an older pg_restore or server may refuse.
FROM python:3.11-slim-bookworm

ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 DJANGO_SETTINGS_MODULE=config.settings
WORKDIR /app

RUN apt-get update \
    && apt-get install --yes --no-install-recommends postgresql-client-15 \
    && rm -rf /var/lib/apt/lists/*

COPY requirements.txt .
RUN pip install --no-cache-dir -r requirements.txt

COPY . .
# collectstatic needs settings to load, which needs keys; throwaway ones serve for this step.
RUN DJANGO_SECRET_KEY=build PII_ENCRYPTION_KEY=$(python -c "import base64,os;print(base64.urlsafe_b64encode(os.urandom(32)).decode())") \
    PII_HMAC_KEY=$(python -c "import base64,os;print(base64.urlsafe_b64encode(os.urandom(32)).decode())") \
    python manage.py collectstatic --noinput

# var/media (consent scans, exports) and var/backups are volumes in docker-compose.yml; made
# here owned by the app's user so that a new volume starts with that owner.
RUN useradd --system --home /app fanpin \
    && mkdir -p /app/var/media /app/var/backups \
    && chown -R fanpin /app/var
USER fanpin
EXPOSE 8000
CMD ["gunicorn", "config.wsgi:application", "--bind", "0.0.0.0:8000", "--workers", "3"]
