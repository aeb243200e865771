"""The one settings module. Everything that differs between machines comes from the environment.

No DATABASE_URL: a SQLite file. No REDIS_URL: Celery tasks run in-process and caches live in
memory. With both: PostgreSQL, Redis and real workers. `.env.example` lists every variable.
"""

from datetime import timedelta
from pathlib import Path

import environ
from celery.schedules import crontab
from csp.constants import NONE, SELF, UNSAFE_INLINE
from kombu import Queue

from cxhub.logs import logging_config

BASE_DIR = Path(__file__).resolve().parent.parent

env = environ.Env()
if (BASE_DIR / ".env").exists():
    environ.Env.read_env(BASE_DIR / ".env")

DEBUG = env.bool("DJANGO_DEBUG", default=False)

_INSECURE_KEY_PREFIXES = ("change-me", "django-insecure")
SECRET_KEY = env.str("SECRET_KEY", default="")
# Without DEBUG a real key is required to *serve*: cxhub.security refuses to start the web
# app, the worker, beat and `check --deploy` without one. Commands that serve nothing
# (makemigrations, collectstatic) may run with this placeholder.
SECRET_KEY_PROBLEM = None
if not DEBUG and (len(SECRET_KEY) < 32 or SECRET_KEY.startswith(_INSECURE_KEY_PREFIXES)):
    SECRET_KEY_PROBLEM = (
        "SECRET_KEY must be set to a random value of at least 32 characters when "
        "DJANGO_DEBUG is off (generate one with: python -c 'import secrets; "
        "print(secrets.token_urlsafe(50))')."
    )
if not SECRET_KEY:
    SECRET_KEY = "django-insecure-placeholder-never-served"
# Rotating the key: put the old one here for a while, so sessions and password-reset links
# signed with it stay valid until they expire (docs/operations.md).
SECRET_KEY_FALLBACKS = env.list("SECRET_KEY_FALLBACKS", default=[])

ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=["localhost", "127.0.0.1", "[::1]", "testserver"])
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "csp",
    "axes",
    "auditlog",
    "locations",
    "surveys",
    "metrics",
]
# The rollup tiers' covering unique indexes exist on PostgreSQL only; SQLite, the demo's
# database, goes without them (metrics.models.SUMMED says why that is safe).
SILENCED_SYSTEM_CHECKS = ["models.W039"]

MIDDLEWARE = [
    # First: its request id and timing cover everything below, refusals included.
    "cxhub.observability.RequestObservabilityMiddleware",
    # Probes by address, before the Host check and the HTTPS redirect (cxhub.health).
    "cxhub.health.ProbeMiddleware",
    "cxhub.middleware.ShedStaleRequestsMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "csp.middleware.CSPMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "cxhub.middleware.BodySizeLimitMiddleware",
    "cxhub.middleware.RefuseNulMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    # After authentication: a signed-in person's saved language beats cookie and browser.
    "cxhub.middleware.UserLanguageMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    # Records the signed-in person as the actor of every audited change in the request.
    "cxhub.clients.AuditlogMiddleware",
    # Last, as django-axes asks: answers a locked-out sign-in with 429.
    "axes.middleware.AxesMiddleware",
]

AUTHENTICATION_BACKENDS = [
    # Counts failed sign-ins and refuses a locked-out username + address before checking.
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]

ROOT_URLCONF = "cxhub.urls"
WSGI_APPLICATION = "cxhub.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
            "libraries": {"charts": "cxhub.templatetags.charts"},
        },
    },
]

DATABASES = {
    "default": env.db_url("DATABASE_URL", default=f"sqlite:///{BASE_DIR / 'db.sqlite3'}"),
}
# Kiosks post often: keep connections open between requests instead of reconnecting.
DATABASES["default"]["CONN_MAX_AGE"] = env.int("DB_CONN_MAX_AGE", default=60)
DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
DATABASES["default"].setdefault("TEST", {})["NAME"] = env.str("TEST_DATABASE_NAME", default=None)
# A streaming read replica: the dashboards' and the metrics API's rollup reads go there
# (cxhub/db_routers.py, docs/scaling.md). Unset: every query goes to "default".
if env.str("DATABASE_REPLICA_URL", default=""):
    DATABASES["replica"] = env.db_url("DATABASE_REPLICA_URL")
    DATABASES["replica"]["CONN_MAX_AGE"] = DATABASES["default"]["CONN_MAX_AGE"]
    DATABASES["replica"]["CONN_HEALTH_CHECKS"] = True
    # Tests never create or touch a real replica (tests/test_db_router.py).
    DATABASES["replica"]["TEST"] = {"MIRROR": "default"}
DATABASE_ROUTERS = ["cxhub.db_routers.ReplicaRouter"]

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

REDIS_URL = env.str("REDIS_URL", default="")

if REDIS_URL:
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": REDIS_URL,
            "KEY_PREFIX": "cxhub",
            "OPTIONS": {"socket_connect_timeout": 1, "socket_timeout": 1},
        }
    }
else:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}

# Celery: without Redis, tasks run in the calling process so the demo needs no services.
CELERY_BROKER_URL = REDIS_URL or "memory://"
CELERY_RESULT_BACKEND = None
CELERY_TASK_ALWAYS_EAGER = not REDIS_URL
CELERY_TASK_EAGER_PROPAGATES = True
CELERY_TASK_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TASK_ACKS_LATE = True
# Two queues, both consumed by every worker (a worker with no -Q takes all of task_queues):
# alert checks, e-mails and webhooks come one or more per unhappy response, and must not
# hold up the rollup refreshes that keep the figures fresh (docs/benchmarks.md, freshness).
CELERY_TASK_QUEUES = (Queue("celery"), Queue("alerts"))
CELERY_TASK_DEFAULT_QUEUE = "celery"
CELERY_TASK_ROUTES = {
    "surveys.tasks.*": {"queue": "alerts"},
    "metrics.tasks.send_digests_task": {"queue": "alerts"},
}
CELERY_TASK_REJECT_ON_WORKER_LOSS = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_TIME_LIMIT = env.int("CELERY_TASK_TIME_LIMIT", default=300)
CELERY_TASK_SOFT_TIME_LIMIT = env.int("CELERY_TASK_SOFT_TIME_LIMIT", default=240)
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
# Workers log through LOGGING below (JSON lines with the request id), not Celery's format.
CELERY_WORKER_HIJACK_ROOT_LOGGER = False
CELERY_TIMEZONE = "UTC"
# Unacknowledged tasks of a killed worker go back to the queue after this long.
CELERY_BROKER_TRANSPORT_OPTIONS = {
    "visibility_timeout": env.int("CELERY_VISIBILITY_TIMEOUT", default=600)
}
# A broker that is down must not hold up a kiosk's request: fail fast, the sweep catches up.
CELERY_BROKER_CONNECTION_TIMEOUT = 2
CELERY_TASK_PUBLISH_RETRY_POLICY = {"max_retries": 1, "interval_start": 0, "interval_step": 0.2}
# Seconds a rollup refresh waits after the first response that asks for it, gathering the
# responses that follow in the same store and hour into one refresh (metrics.services).
ROLLUP_REFRESH_DELAY_SECONDS = env.float("ROLLUP_REFRESH_DELAY_SECONDS", default=2.0)
CELERY_BEAT_SCHEDULE = {
    "sweep-dirty-buckets": {
        "task": "metrics.tasks.sweep_dirty_buckets_task",
        "schedule": env.float("ROLLUP_SWEEP_SECONDS", default=15.0),
    },
    "reconcile-recent-days": {
        "task": "metrics.tasks.reconcile_recent_task",
        "schedule": crontab(minute=30, hour=3),
    },
    "sweep-alerts": {
        "task": "surveys.tasks.sweep_alerts_task",
        "schedule": env.float("ALERT_SWEEP_SECONDS", default=60.0),
    },
    "check-silent-kiosks": {
        "task": "surveys.tasks.check_silent_kiosks_task",
        "schedule": 300.0,
    },
    "escalate-overdue-cases": {
        "task": "surveys.tasks.escalate_overdue_cases_task",
        "schedule": 300.0,
    },
    # 01:00 UTC is 08:00 in Hồ Chí Minh City and Bangkok: in the inbox before opening.
    "daily-digests": {
        "task": "metrics.tasks.send_digests_task",
        "schedule": crontab(minute=0, hour=1),
        "args": ("daily",),
    },
    "weekly-digests": {
        "task": "metrics.tasks.send_digests_task",
        "schedule": crontab(minute=0, hour=1, day_of_week=1),
        "args": ("weekly",),
    },
    "erase-expired-contacts": {
        "task": "surveys.tasks.erase_expired_contacts_task",
        "schedule": crontab(minute=10, hour=2),
    },
}

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

LANGUAGE_CODE = "en"
LANGUAGES = [("en", "English"), ("vi", "Tiếng Việt"), ("th", "ไทย")]
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True
LOCALE_PATHS = [BASE_DIR / "locale"]
# Django's Vietnamese formats do not group thousands; ours do (1.234.567,5).
FORMAT_MODULE_PATH = ["cxhub.formats"]
# Off: with it on, every integer any template prints is grouped — ids in links and data
# attributes, years ("2.025" in Vietnamese), numbers a script reads back. Pages group the
# numbers people read explicitly: {{ count|floatformat:"g" }} (locale separators), and charts
# take data-separators from {% chart_separators %} (docs/translating.md).
USE_THOUSAND_SEPARATOR = False

STATIC_URL = "static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
STATICFILES_DIRS = [BASE_DIR / "static"]
# Production serves collected, hashed, compressed files; development and the test suite
# serve straight from the source folders, so they need no collectstatic.
WHITENOISE_USE_FINDERS = DEBUG or env.bool("WHITENOISE_USE_FINDERS", default=False)
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"
        if WHITENOISE_USE_FINDERS
        else "whitenoise.storage.CompressedManifestStaticFilesStorage"
    },
}
MEDIA_URL = "media/"
MEDIA_ROOT = env.path("MEDIA_ROOT", default=BASE_DIR / "var" / "media")

LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "/dashboard/"
LOGOUT_REDIRECT_URL = "home"

# Request bodies: a single response is small; a batch of 500 with long comments is not.
DATA_UPLOAD_MAX_MEMORY_SIZE = env.int("MAX_BATCH_BODY_BYTES", default=4 * 1024 * 1024)
CXHUB_MAX_BODY_BYTES = {
    "/api/v1/kiosk/responses/batch/": DATA_UPLOAD_MAX_MEMORY_SIZE,
    "/api/v1/kiosk/": env.int("MAX_RESPONSE_BODY_BYTES", default=64 * 1024),
}
CXHUB_MAX_BATCH_SIZE = 500
# A request that waited longer than this in the proxy's and gunicorn's queues is answered
# 503 at once (cxhub.middleware.ShedStaleRequestsMiddleware); kiosks give up after 20 s.
CXHUB_QUEUE_TIMEOUT_SECONDS = env.float("QUEUE_TIMEOUT_SECONDS", default=10.0)
CXHUB_KIOSK_RATE = env.str("KIOSK_RATE", default="600/min")
# Per client address, across kiosks: a whole store's tablets share one NAT address, so this
# is far above one kiosk's rate. Behind a proxy set TRUSTED_PROXY_COUNT, or every kiosk
# shares the proxy's address.
CXHUB_KIOSK_ADDRESS_RATE = env.str("KIOSK_ADDRESS_RATE", default="6000/min")
CXHUB_PAIRING_RATE = env.str("PAIRING_RATE", default="10/min")
CXHUB_PAIRING_CODE_MINUTES = env.int("PAIRING_CODE_MINUTES", default=15)

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "locations.authentication.PersonalTokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_PARSER_CLASSES": ["rest_framework.parsers.JSONParser"],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "EXCEPTION_HANDLER": "cxhub.api.exception_handler",
    "TEST_REQUEST_DEFAULT_FORMAT": "json",
}
if DEBUG:
    REST_FRAMEWORK["DEFAULT_RENDERER_CLASSES"].append(
        "rest_framework.renderers.BrowsableAPIRenderer"
    )

SPECTACULAR_SETTINGS = {
    "TITLE": "CXHub API",
    "DESCRIPTION": (
        "Kiosks submit customer feedback; head-office tools read scores. "
        "Kiosk calls take `Authorization: Bearer <kiosk token>`; reading calls take a "
        "session or `Authorization: Bearer <personal API token>`."
    ),
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    # The validator badge would send our schema's address to validator.swagger.io.
    "SWAGGER_UI_SETTINGS": {"deepLinking": True, "validatorUrl": None},
    "REDOC_DIST": "SIDECAR",
    "COMPONENT_SPLIT_REQUEST": True,
}

# Production sits behind a TLS-terminating proxy that sets X-Forwarded-Proto (and must
# overwrite, not pass on, a client's own). Plain HTTP is redirected to HTTPS, except the
# probes a load balancer sends over plain HTTP inside the network (answered before the
# redirect by cxhub.health.ProbeMiddleware).
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SECURE_SSL_REDIRECT = env.bool("SECURE_SSL_REDIRECT", default=not DEBUG)
SESSION_COOKIE_SECURE = env.bool("SECURE_COOKIES", default=not DEBUG)
CSRF_COOKIE_SECURE = SESSION_COOKIE_SECURE
# No script of ours reads the CSRF cookie: forms carry the token in a hidden field.
CSRF_COOKIE_HTTPONLY = True
SESSION_COOKIE_HTTPONLY = True
# Browsers remember HSTS only from HTTPS answers, so this is harmless on plain HTTP.
SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", default=0 if DEBUG else 31536000)
# Subdomains of CXHub's own host name (not its siblings), and the preload flag, which does
# nothing until someone submits the domain to the browsers' preload list.
SECURE_HSTS_INCLUDE_SUBDOMAINS = env.bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", default=True)
SECURE_HSTS_PRELOAD = env.bool("SECURE_HSTS_PRELOAD", default=True)
SECURE_REFERRER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
# A signed-in session lasts a working day, not the two weeks Django would give it: store
# tablets and shared office computers are left signed in.
SESSION_COOKIE_AGE = env.int("SESSION_HOURS", default=12) * 3600

# Behind this many proxies the client's address is that far from the right of
# X-Forwarded-For (cxhub.clients); 0 trusts no header and uses the connection's address.
TRUSTED_PROXY_COUNT = env.int("TRUSTED_PROXY_COUNT", default=0)

# Sign-in: 5 wrong passwords for one username from one address lock that pair out for 15
# minutes (429). Locking a username alone would let anyone lock a manager out; locking an
# address alone would lock out a whole office behind one NAT.
AXES_FAILURE_LIMIT = env.int("SIGN_IN_FAILURE_LIMIT", default=5)
AXES_COOLOFF_TIME = timedelta(minutes=env.int("SIGN_IN_LOCKOUT_MINUTES", default=15))
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_RESET_ON_SUCCESS = True
AXES_CLIENT_IP_CALLABLE = "cxhub.clients.client_address"
AXES_LOCKOUT_TEMPLATE = "registration/locked_out.html"
AXES_HTTP_RESPONSE_CODE = 429
# Attempts are rows in PostgreSQL, seen (and cleared) in the admin; `manage.py axes_reset`.
AXES_HANDLER = "axes.handlers.database.AxesDatabaseHandler"
AXES_VERBOSE = False

# The audit log (django-auditlog): who changed what, from the admin, the pages, the API or
# the command line. The organization goes with each entry (get_additional_data) so that an
# organization's administrators see their own entries only. Secrets never enter it.
AUDITLOG_INCLUDE_TRACKING_MODELS = (
    "locations.Organization",
    "locations.Region",
    "locations.Location",
    "locations.Touchpoint",
    "locations.StaffMember",
    {
        "model": "locations.Kiosk",
        "exclude_fields": [
            "token_digest",
            "last_seen_at",
            "app_version",
            "queue_length",
            "invalid_count",
            "battery",
        ],
    },
    "locations.Membership",
    {"model": "locations.ApiToken", "exclude_fields": ["token_digest", "last_used_at"]},
    {"model": "auth.User", "exclude_fields": ["password", "last_login"]},
    "surveys.Survey",
    "surveys.SurveyVersion",
    "surveys.AlertRule",
    "surveys.Case",
    {"model": "surveys.WebhookEndpoint", "exclude_fields": ["secret", "consecutive_failures"]},
)
AUDITLOG_DISABLE_REMOTE_ADDR = False

# /metrics: with a token, only `Authorization: Bearer <token>`; without, only scrapers on
# the private network that reach a web process directly (cxhub.health).
METRICS_TOKEN = env.str("METRICS_TOKEN", default="")

# Every page we serve loads scripts, styles, fonts and images from this origin only, and runs
# no inline script: data reaches pages as JSON blocks (json_script), never as code.
# Styles: plotly.js sets `style` attributes from its data (a heatmap's image-rendering and,
# with a reversed axis, a transform; <b>/<i>/<sup> in chart text; colour-bar fills), which
# no fixed hash can cover, so style *attributes* may be inline (style-src-attr). Style
# *elements* may not (style-src-elem 'self'): the global rules plotly would inject come from
# static/vendor/plotly/*.css instead (see templates/cxhub/charts.html). style-src itself is
# only read by browsers without CSP 3 (before Firefox 108, Safari 15.4); it allows inline
# styles there so that charts draw correctly rather than silently lose those attributes.
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": [SELF],
        "script-src": [SELF],
        "style-src": [SELF, UNSAFE_INLINE],
        "style-src-elem": [SELF],
        "style-src-attr": [UNSAFE_INLINE],
        "img-src": [SELF, "data:"],
        "font-src": [SELF],
        "connect-src": [SELF],
        "object-src": [NONE],
        "base-uri": [SELF],
        "frame-ancestors": [NONE],
        "form-action": [SELF],
    }
}

EMAIL_BACKEND = env.str("EMAIL_BACKEND", default="django.core.mail.backends.console.EmailBackend")
DEFAULT_FROM_EMAIL = env.str("DEFAULT_FROM_EMAIL", default="CXHub <cxhub@localhost>")
# SMTP (with django.core.mail.backends.smtp.EmailBackend).
EMAIL_HOST = env.str("EMAIL_HOST", default="localhost")
EMAIL_PORT = env.int("EMAIL_PORT", default=25)
EMAIL_HOST_USER = env.str("EMAIL_HOST_USER", default="")
EMAIL_HOST_PASSWORD = env.str("EMAIL_HOST_PASSWORD", default="")
EMAIL_USE_TLS = env.bool("EMAIL_USE_TLS", default=False)
# With django.core.mail.backends.filebased.EmailBackend: one file per message, here.
EMAIL_FILE_PATH = env.str("EMAIL_FILE_PATH", default=str(BASE_DIR / "var" / "mail"))
SITE_URL = env.str("SITE_URL", default="http://127.0.0.1:8000")

# JSON lines with the request id in production; readable lines in development.
LOGGING = logging_config(
    env.str("LOG_FORMAT", default="text" if DEBUG else "json"),
    env.str("LOG_LEVEL", default="INFO"),
)
if not REDIS_URL:
    # In-process tasks would log a line per rollup refresh into the web log.
    LOGGING["loggers"]["celery.app.trace"] = {"level": "WARNING"}
