"""Settings for every environment, driven by environment variables.

Embedded defaults: no DATABASE_URL → a SQLite file under var/; no broker → Celery runs tasks
eagerly in-process. Production sets DJANGO_SECRET_KEY, PII_ENCRYPTION_KEY, PII_HMAC_KEY,
DATABASE_URL, REDIS_URL and DJANGO_ALLOWED_HOSTS (see .env.example).
"""

import base64
import os
from pathlib import Path

from celery.schedules import crontab
from django.core.exceptions import ImproperlyConfigured

from config.env import (
    env_bool,
    env_dates,
    env_int,
    env_list,
    env_str,
    parse_database_url,
    redis_broker_transport_options,
    redis_cache,
    sqlite_options,
)

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = Path(env_str("DJANGO_VAR_DIR", str(BASE_DIR / "var")))

# pytest (>= 8.2) exports PYTEST_VERSION for the whole session; tests get fixed throwaway keys.
TESTING = "PYTEST_VERSION" in os.environ
VAR_DIR.mkdir(parents=True, exist_ok=True)
DEBUG = env_bool("DJANGO_DEBUG", default=False)

_TEST_ONLY_SECRET = "test-only-secret-key-never-used-outside-pytest-0123456789"  # noqa: S105
SECRET_KEY = env_str("DJANGO_SECRET_KEY") or (_TEST_ONLY_SECRET if TESTING else None)
if not SECRET_KEY:
    raise ImproperlyConfigured(
        "DJANGO_SECRET_KEY is not set. For the demo run `make run`, which generates var/demo.env."
    )

ALLOWED_HOSTS = env_list("DJANGO_ALLOWED_HOSTS", ["127.0.0.1", "localhost"] if DEBUG else [])
CSRF_TRUSTED_ORIGINS = env_list("DJANGO_CSRF_TRUSTED_ORIGINS", [])

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    # The second factor (TOTP) of county approvers and administrators: accounts/second_factor.py.
    "django_otp",
    "django_otp.plugins.otp_totp",
    "rest_framework",
    "django_filters",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "accounts",
    "households",
    "monitor",
    "interventions",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    # Content-Security-Policy and Permissions-Policy (the other headers: SecurityMiddleware).
    "config.security.SecurityHeadersMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    # Marks the session for saving only when its idle end must move (config/sessions.py).
    "config.sessions.IdleTimeoutMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django_otp.middleware.OTPMiddleware",
    # Writes deep inside a request (User.save's audit events) know who made them.
    "accounts.audit.AuditActorMiddleware",
    # A signed-in person still owing the second factor or a new password reaches nothing else.
    "config.security.AccountGateMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "config.urls"
WSGI_APPLICATION = "config.wsgi.application"
ASGI_APPLICATION = "config.asgi.application"

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
                "accounts.navigation.navigation",
            ],
        },
    },
]

_database_url = env_str("DATABASE_URL")
if _database_url:
    DATABASES = {"default": parse_database_url(_database_url)}
    DATABASES["default"]["CONN_MAX_AGE"] = env_int("DATABASE_CONN_MAX_AGE", 60)
    # A kept connection is checked before each request: after a PostgreSQL restart the next
    # request reconnects instead of failing on the dead connection (config/outage.py).
    DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
else:
    DATABASES = {
        "default": {
            "ENGINE": "django.db.backends.sqlite3",
            "NAME": VAR_DIR / "db.sqlite3",
            # One writer at a time: wait for the lock, taken at BEGIN (config/env.py says why).
            "OPTIONS": sqlite_options(),
        }
    }

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
AUTH_USER_MODEL = "accounts.User"
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "home"
LOGOUT_REDIRECT_URL = "login"

# Passwords only for people; the sign-in counts attempts (lockout) and turns away department
# machine accounts, which authenticate by API key alone (accounts/authentication.py).
AUTHENTICATION_BACKENDS = ["accounts.authentication.PasswordBackend"]

# 等保 level 3 (GB/T 22239 身份鉴别): at least 8 characters (10 here) of three of the four
# classes, not the old one, changed every PASSWORD_MAX_AGE_DAYS days (0: never expires).
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {
        "NAME": "django.contrib.auth.password_validation.MinimumLengthValidator",
        "OPTIONS": {"min_length": 10},
    },
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
    # Also stamps User.password_changed_at whenever a password is saved.
    {"NAME": "accounts.passwords.CharacterClassValidator"},
]
PASSWORD_MAX_AGE_DAYS = env_int("PASSWORD_MAX_AGE_DAYS", 90)
if TESTING:
    # Hashing passwords at full strength makes every fixture login cost ~0.3 s.
    PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]

LANGUAGE_CODE = "zh-hans"
LANGUAGES = [("zh-hans", "简体中文")]
TIME_ZONE = "Asia/Shanghai"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = Path(env_str("DJANGO_STATIC_ROOT", str(VAR_DIR / "staticfiles")))
# The demo and tests serve static files straight from the apps (no collectstatic step).
WHITENOISE_USE_FINDERS = DEBUG or TESTING
WHITENOISE_AUTOREFRESH = DEBUG or TESTING
STATICFILES_DIRS = [BASE_DIR / "static"]
MEDIA_ROOT = Path(env_str("DJANGO_MEDIA_ROOT", str(VAR_DIR / "media")))
MEDIA_URL = "media/"

# 等保: lock an account after repeated failed sign-ins; sessions expire after inactivity.
LOGIN_MAX_FAILURES = env_int("LOGIN_MAX_FAILURES", 5)
LOGIN_LOCKOUT_SECONDS = env_int("LOGIN_LOCKOUT_SECONDS", 15 * 60)
# Idle timeout: a request pushes the session's end SESSION_COOKIE_AGE ahead, writing the
# session at most every SESSION_TOUCH_SECONDS (not on every request), so a session ends
# between 29 and 30 minutes after its last request; background polling does not count
# (config/sessions.py).
SESSION_SAVE_EVERY_REQUEST = False
SESSION_COOKIE_AGE = env_int("DJANGO_SESSION_AGE", 30 * 60)
SESSION_TOUCH_SECONDS = env_int("DJANGO_SESSION_TOUCH_SECONDS", 60)
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
# Pages put the CSRF token in the form (and htmx's header) from the template; no script reads
# the cookie, so it is HttpOnly too.
CSRF_COOKIE_HTTPONLY = True
CSRF_COOKIE_SAMESITE = "Lax"
CSRF_FAILURE_VIEW = "accounts.views.csrf_failure"

# HTTPS: on unless debugging (the demo) or testing. DJANGO_SECURE_COOKIES=0 only for a trial
# over plain HTTP. Behind a TLS-terminating proxy that sets X-Forwarded-Proto, set
# DJANGO_TRUST_X_FORWARDED_PROTO=1 so the redirect to HTTPS does not loop.
HTTPS = env_bool("DJANGO_SECURE_COOKIES", default=not DEBUG and not TESTING)
SESSION_COOKIE_SECURE = CSRF_COOKIE_SECURE = HTTPS
SECURE_SSL_REDIRECT = env_bool("DJANGO_SSL_REDIRECT", default=HTTPS)
if env_bool("DJANGO_TRUST_X_FORWARDED_PROTO", default=False):
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SECURE_HSTS_SECONDS = env_int("DJANGO_HSTS_SECONDS", 365 * 24 * 3600 if HTTPS else 0)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env_bool("DJANGO_HSTS_INCLUDE_SUBDOMAINS", default=True)
SECURE_HSTS_PRELOAD = env_bool("DJANGO_HSTS_PRELOAD", default=True)
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
SECURE_CROSS_ORIGIN_OPENER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"

# Second factor (TOTP, django-otp) for the roles that decide cases or manage accounts. On in
# production; the demo (DJANGO_DEBUG=1) and the tests leave it off unless
# DJANGO_SECOND_FACTOR=1 (tests switch it on where they test it). `check --deploy` warns
# when it is off.
SECOND_FACTOR_REQUIRED = env_bool("DJANGO_SECOND_FACTOR", default=not DEBUG and not TESTING)
SECOND_FACTOR_ROLES = ("county_approver", "admin")
OTP_TOTP_ISSUER = "防返贫监测"
# A wrong code counts toward the sign-in lockout (5 tries, atomic); django-otp's own growing
# delay would only refuse tries before they are counted.
OTP_TOTP_THROTTLE_FACTOR = 0
# The admin site never shows a device's secret (an administrator could otherwise copy it).
OTP_ADMIN_HIDE_SENSITIVE_DATA = True

# Upload limits: registry files are at most tens of thousands of rows.
DATA_UPLOAD_MAX_MEMORY_SIZE = 10 * 1024 * 1024
FILE_UPLOAD_MAX_MEMORY_SIZE = 10 * 1024 * 1024
REGISTRY_IMPORT_MAX_BYTES = env_int("REGISTRY_IMPORT_MAX_BYTES", 30 * 1024 * 1024)

# --- Personal data (等保 level 3: encrypt important personal data at rest) -------------------
# PII_ENCRYPTION_KEY: one or more comma-separated urlsafe-base64 32-byte keys; the first
# encrypts, all decrypt (key rotation). PII_HMAC_KEY: the secret of the lookup hash.


def _decode_key(name: str, raw: str) -> bytes:
    try:
        key = base64.urlsafe_b64decode(raw.encode("ascii"))
    except (ValueError, UnicodeEncodeError):
        raise ImproperlyConfigured(f"{name} is not urlsafe base64") from None
    if len(key) != 32:
        raise ImproperlyConfigured(f"{name} must decode to 32 bytes, got {len(key)}")
    return key


_TEST_ONLY_ENC_KEY = base64.urlsafe_b64encode(b"E" * 32).decode()
_TEST_ONLY_HMAC_KEY = base64.urlsafe_b64encode(b"H" * 32).decode()
_enc_raw = env_str("PII_ENCRYPTION_KEY") or (_TEST_ONLY_ENC_KEY if TESTING else None)
_hmac_raw = env_str("PII_HMAC_KEY") or (_TEST_ONLY_HMAC_KEY if TESTING else None)
if not _enc_raw or not _hmac_raw:
    raise ImproperlyConfigured(
        "PII_ENCRYPTION_KEY and PII_HMAC_KEY must be set (generate with "
        "`python manage.py generate_keys`; the demo generates var/demo.env for itself)."
    )
PII_ENCRYPTION_KEYS = [
    _decode_key("PII_ENCRYPTION_KEY", part.strip()) for part in _enc_raw.split(",") if part.strip()
]
PII_HMAC_KEY = _decode_key("PII_HMAC_KEY", _hmac_raw)

# --- REST API --------------------------------------------------------------------------------
REST_FRAMEWORK = {
    # Token first: its WWW-Authenticate header makes an unauthenticated call a 401, not 403.
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "accounts.authentication.ApiTokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_FILTER_BACKENDS": [
        "config.filters.FilterBackend",
        "rest_framework.filters.OrderingFilter",
    ],
    "DEFAULT_PAGINATION_CLASS": "config.pagination.StandardPagination",
    "DEFAULT_PARSER_CLASSES": [
        "config.parsers.SafeJSONParser",
        "rest_framework.parsers.FormParser",
        "rest_framework.parsers.MultiPartParser",
    ],
    # Rate limits key on the connecting address; a proxy in front sets REMOTE_ADDR. Trusting
    # X-Forwarded-For here would let any client choose its own key.
    "NUM_PROXIES": env_int("DJANGO_NUM_PROXIES", 0),
    "PAGE_SIZE": 50,
    "DEFAULT_SCHEMA_CLASS": "config.schema.ApiAutoSchema",
    "EXCEPTION_HANDLER": "config.exceptions.api_exception_handler",
    "DEFAULT_THROTTLE_CLASSES": [
        # DRF's, let through while Redis is down (config/outage.py); the scoped ones fail closed.
        "config.outage.AnonRateThrottle",
        "config.outage.UserRateThrottle",
        "rest_framework.throttling.ScopedRateThrottle",
    ],
    # Revealing full numbers is rare work at the door; a burst of it is a leak in progress.
    "DEFAULT_THROTTLE_RATES": {
        "anon": "60/min",
        "user": "1200/min",
        "reveal": "60/hour",
        "self_application": "10/hour",
    },
}

SPECTACULAR_SETTINGS = {
    "TITLE": "防止返贫致贫动态监测和帮扶系统 API",
    "DESCRIPTION": "行政区划、农户、家庭成员、收支、监测对象与帮扶措施接口。所有返回人员信息的接口"
    "均按当前用户的行政区划范围过滤；身份证号、手机号默认脱敏。",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    # Swagger UI is served from our own static files: county networks often have no internet.
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "COMPONENT_SPLIT_REQUEST": True,
    "ENUM_NAME_OVERRIDES": {
        "CaseStatusEnum": "monitor.choices.Status",
        "RegistryImportKindEnum": "households.models.RegistryImport.Kind",
        "NotificationKindEnum": "monitor.choices.NotificationKind",
        "MeasureStatusEnum": "interventions.models.MeasureStatus",
        "HouseholdKindEnum": "households.choices.HouseholdKind",
        "ClueOutcomeEnum": "monitor.choices.ClueOutcome",
        "ClueStatusEnum": "monitor.choices.ClueStatus",
        "ClueChannelEnum": "monitor.choices.ClueChannel",
        "CaseChannelEnum": "monitor.choices.Channel",
        "RowOutcomeEnum": "monitor.choices.RowOutcome",
        "RiskTypeEnum": "monitor.choices.RISK_TYPES",
        "VisitKindEnum": "monitor.choices.VisitKind",
        "ExportKindEnum": "monitor.models.ExportJob.Kind",
    },
}

# --- Celery ----------------------------------------------------------------------------------
REDIS_URL = env_str("REDIS_URL")
CELERY_BROKER_URL = env_str("CELERY_BROKER_URL") or REDIS_URL
# No broker configured → run tasks in-process, so the embedded demo needs no Redis.
CELERY_TASK_ALWAYS_EAGER = not CELERY_BROKER_URL
CELERY_TASK_DEFAULT_QUEUE = env_str("CELERY_TASK_DEFAULT_QUEUE", "celery")
CELERY_TASK_EAGER_PROPAGATES = True
CELERY_RESULT_BACKEND = None
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TIMEZONE = TIME_ZONE
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
# A silent broker fails a publish within seconds (config/env.py); only the Redis transport
# knows these options.
if (CELERY_BROKER_URL or "").startswith(("redis://", "rediss://")):
    CELERY_BROKER_TRANSPORT_OPTIONS = redis_broker_transport_options()

CELERY_BEAT_SCHEDULE = {
    "screen-registry": {
        "task": "monitor.screen_registry",
        "schedule": crontab(minute=0, hour=2, day_of_month=1),
    },
    "sweep-waiting-batches": {"task": "monitor.sweep_waiting_batches", "schedule": 60.0},
    "sweep-deadlines": {"task": "monitor.sweep_deadlines", "schedule": 3600.0},
    # Export files past their expiry are removed; jobs whose worker died are failed.
    "expire-exports": {"task": "monitor.exports_expire", "schedule": 900.0},
    "report-facts": {
        "task": "monitor.rebuild_report_facts",
        "schedule": crontab(minute=30, hour=2),
    },
    "monthly-reports": {
        "task": "monitor.generate_monthly_reports",
        # Just after midnight every day: on the 1st it makes last month's reports; on the
        # other days it finds them made (or makes them, if beat was down on the 1st).
        "schedule": crontab(minute=10, hour=0),
    },
    "monthly-visits": {
        "task": "monitor.flag_missing_monthly_visits",
        # Daily: the job looks at the previous month and raises each flag once.
        "schedule": 24 * 3600.0,
    },
    "follow-up-visits": {
        "task": "monitor.flag_missing_follow_up_visits",
        # Daily: the job looks at the previous quarter and raises each flag once.
        "schedule": 24 * 3600.0,
    },
}

if REDIS_URL:
    CACHES = {"default": redis_cache(REDIS_URL)}
else:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}

# --- Logging ---------------------------------------------------------------------------------
# Personal numbers never reach a log line: the filter masks ID-like and phone-like digit runs.
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {"mask_pii": {"()": "households.pii.MaskPiiLogFilter"}},
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    "handlers": {
        "console": {
            "class": "logging.StreamHandler",
            "formatter": "plain",
            "filters": ["mask_pii"],
        },
    },
    "root": {"handlers": ["console"], "level": env_str("DJANGO_LOG_LEVEL", "INFO")},
}

# --- Domain settings (local practice, not national rule: kept configurable) -----------------
# The monitoring line itself is data (households.MonitoringLine), keyed by region and year.
MONITOR = {
    # From finding a risk to the county's decision, the public notice included (national rule).
    "IDENTIFICATION_DAYS": env_int("MONITOR_IDENTIFICATION_DAYS", 15),
    # Provincial platforms give the village this many working days for the home check.
    "VILLAGE_VERIFICATION_WORKDAYS": env_int("MONITOR_VILLAGE_VERIFICATION_WORKDAYS", 5),
    # A farmer's own application must be accepted by the township within this many days.
    "SELF_APPLICATION_ACCEPT_DAYS": env_int("MONITOR_SELF_APPLICATION_ACCEPT_DAYS", 2),
    "NOTICE_MIN_DAYS": env_int("MONITOR_NOTICE_MIN_DAYS", 5),
    "CLEARANCE_MIN_MONTHS": env_int("MONITOR_CLEARANCE_MIN_MONTHS", 6),
    "CLEARANCE_MIN_MEASURES": env_int("MONITOR_CLEARANCE_MIN_MEASURES", 1),
    # A case this long in monitoring without any measure is flagged.
    "NO_MEASURE_FLAG_DAYS": env_int("MONITOR_NO_MEASURE_FLAG_DAYS", 30),
    # Public holidays (YYYY-MM-DD, comma-separated) on top of weekends, for working-day clocks.
    "HOLIDAYS": env_dates("MONITOR_HOLIDAYS"),
    # A warning clue must be verified at home by the village within this many working days.
    "CLUE_VERIFICATION_WORKDAYS": env_int("MONITOR_CLUE_VERIFICATION_WORKDAYS", 5),
    # After clearance the household stays on a watch list this many months (消除后跟踪).
    "FOLLOW_UP_MONTHS": env_int("MONITOR_FOLLOW_UP_MONTHS", 12),
    # Share of reported cases the county draws for its own home visit before approval.
    "SPOT_CHECK_PERCENT": env_int("MONITOR_SPOT_CHECK_PERCENT", 10),
    # False: department and screening clues wait for the county to dispatch them (下发批次);
    # True: they go straight to the villages. Counties may choose otherwise (RegionPolicy).
    "CLUE_AUTO_DISPATCH": env_bool("MONITOR_CLUE_AUTO_DISPATCH", False),
    # 台账导出: hours a finished file can be downloaded; exports one user may have waiting
    # or running at once; minutes after which a job that never finished is failed.
    "EXPORT_TTL_HOURS": env_int("MONITOR_EXPORT_TTL_HOURS", 24),
    "EXPORT_MAX_ACTIVE": env_int("MONITOR_EXPORT_MAX_ACTIVE", 2),
    "EXPORT_STALE_MINUTES": env_int("MONITOR_EXPORT_STALE_MINUTES", 60),
    # A sheet of full ID numbers is many reveals at once: so many a day per user.
    "EXPORT_FULL_IDS_PER_DAY": env_int("MONITOR_EXPORT_FULL_IDS_PER_DAY", 5),
    # 数据筛查 on demand: runs one region may queue an hour (one at a time besides).
    "SCREENING_RUNS_PER_HOUR": env_int("MONITOR_SCREENING_RUNS_PER_HOUR", 6),
}

# Department warning lists: a list of a million rows as CSV is about 60 MB.
FEED_MAX_FILE_BYTES = env_int("FEED_MAX_FILE_BYTES", 200 * 1024 * 1024)
FEED_MAX_JSON_BYTES = env_int("FEED_MAX_JSON_BYTES", 50 * 1024 * 1024)
# Crash test only: a worker pauses mid-batch and waits to be killed (monitor/feeds/matching).
FEEDS_FAULT_DIR = env_str("FEEDS_FAULT_DIR", "")
