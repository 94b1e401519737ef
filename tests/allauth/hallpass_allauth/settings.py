"""Settings of the allauth recording project.

Not a deployment: a fixed SECRET_KEY, MD5 password hashing (fast; the hash is
never on the wire) and a throw-away SQLite file. The allauth part comes from
config.py, overridable by environment variables (see there).
"""

import os
import tempfile

from hallpass_allauth.config import JWT_STRATEGY, effective_settings

SECRET_KEY = "hallpass-allauth-recorder-not-a-secret"
DEBUG = False
ALLOWED_HOSTS = ["127.0.0.1", "localhost"]

_state_dir = os.environ.get("HALLPASS_ALLAUTH_STATE") or tempfile.mkdtemp(
    prefix="hallpass-allauth-"
)

INSTALLED_APPS = [
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.sites",
    "allauth",
    "allauth.account",
    "allauth.headless",
    "allauth.usersessions",
    "allauth.mfa",
    "hallpass_allauth",
]
SITE_ID = 1

MIDDLEWARE = [
    "django.middleware.common.CommonMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "allauth.account.middleware.AccountMiddleware",
]

ROOT_URLCONF = "hallpass_allauth.urls"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
            ],
        },
    }
]

DATABASES = {
    "default": {
        "ENGINE": "django.db.backends.sqlite3",
        "NAME": os.environ.get(
            "HALLPASS_ALLAUTH_DB", os.path.join(_state_dir, "db.sqlite3")
        ),
    }
}
DEFAULT_AUTO_FIELD = "django.db.models.AutoField"

CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}

AUTHENTICATION_BACKENDS = [
    "django.contrib.auth.backends.ModelBackend",
    "allauth.account.auth_backends.AuthenticationBackend",
]
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
AUTH_PASSWORD_VALIDATORS = [
    {
        "NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"
    },
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

# Every sent message becomes one JSON file in this directory, which the
# recorder reads after each request.
EMAIL_BACKEND = "hallpass_allauth.mail.JsonDirBackend"
HALLPASS_EMAIL_DIR = os.environ.get(
    "HALLPASS_ALLAUTH_MAILDIR", os.path.join(_state_dir, "mail")
)
DEFAULT_FROM_EMAIL = "webmaster@localhost"

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": "WARNING"},
}

globals().update(effective_settings(os.environ))

if HEADLESS_TOKEN_STRATEGY == JWT_STRATEGY and not globals().get(  # noqa: F821
    "HEADLESS_JWT_PRIVATE_KEY"
):
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    HEADLESS_JWT_PRIVATE_KEY = (
        rsa.generate_private_key(public_exponent=65537, key_size=2048)
        .private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        .decode()
    )
