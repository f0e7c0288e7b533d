# One image for web, worker and beat (docker-compose.yml chooses the command).
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 DJANGO_SETTINGS_MODULE=config.settings.production
WORKDIR /app

# pg_dump, pg_restore, createdb and dropdb for `manage.py backup_restore_drill` (Debian's client is at least as new
# as the postgres:15 service, which pg_dump requires).
RUN apt-get update && apt-get install -y --no-install-recommends postgresql-client && rm -rf /var/lib/apt/lists/*

COPY requirements.txt .
RUN pip install --no-cache-dir -r requirements.txt

COPY . .
RUN DJANGO_SECRET_KEY=build-only DJANGO_ALLOWED_HOSTS=localhost DATABASE_URL=sqlite:////tmp/build.sqlite3 \
    python manage.py collectstatic --noinput

RUN useradd --create-home custops && mkdir -p /app/var/media && chown -R custops /app/var
USER custops
EXPOSE 8000
CMD ["gunicorn", "-c", "python:config.gunicorn_conf", "config.wsgi:application"]
