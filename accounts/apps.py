from django.apps import AppConfig


class AccountsConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "accounts"
    verbose_name = "用户与权限"

    def ready(self):
        from django.contrib.auth.signals import user_logged_in

        from accounts import signals  # noqa: F401 - registers the sign-in audit receivers
        from config import security  # noqa: F401 - registers the `check --deploy` checks
        from config.sessions import on_sign_in

        user_logged_in.connect(on_sign_in, dispatch_uid="config.sessions.on_sign_in")
