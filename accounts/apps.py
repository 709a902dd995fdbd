from django.apps import AppConfig


class AccountsConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "accounts"
    verbose_name = "用户与权限"

    def ready(self):
        from accounts import signals  # noqa: F401 - registers the sign-in audit receivers
        from config import security  # noqa: F401 - registers the `check --deploy` checks
