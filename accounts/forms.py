from django import forms
from django.contrib.auth import forms as auth_forms
from django.contrib.auth.forms import AuthenticationForm

from accounts import lockout


class LoginForm(AuthenticationForm):
    error_messages = {
        "invalid_login": "用户名或密码错误。",
        "inactive": "该账号已停用，请联系系统管理员。",
        "locked": "登录失败次数过多，账号已临时锁定，请 %(minutes)s 分钟后再试或联系管理员。",
    }

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["username"].label = "用户名"
        self.fields["password"].label = "密码"
        for field in self.fields.values():
            field.widget.attrs["class"] = "input"

    def clean(self):
        username = self.cleaned_data.get("username") or ""
        minutes = lockout.locked_minutes(username) if username else 0
        if minutes:
            raise forms.ValidationError(
                self.error_messages["locked"], code="locked", params={"minutes": minutes}
            )
        try:
            cleaned = super().clean()
        except forms.ValidationError:
            if username:
                lockout.record_failure(username)
            raise
        lockout.clear(username)
        return cleaned


class PasswordChangeForm(auth_forms.PasswordChangeForm):
    """Labels in Chinese; the validators' own messages come in Chinese from Django's zh-hans."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        labels = {
            "old_password": "原密码",
            "new_password1": "新密码",
            "new_password2": "再次输入新密码",
        }
        for name, label in labels.items():
            self.fields[name].label = label
