from django import forms
from django.contrib.auth import forms as auth_forms
from django.contrib.auth.forms import AuthenticationForm

from accounts.grants import KINDS


class LoginForm(AuthenticationForm):
    """The sign-in form. The lockout itself is in the authentication backend
    (accounts.authentication.PasswordBackend), which every password check passes; this form
    only tells a locked account how long it has to wait."""

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
        try:
            return super().clean()
        except forms.ValidationError:
            minutes = getattr(self.request, "login_locked_minutes", 0)
            if minutes:
                raise forms.ValidationError(
                    self.error_messages["locked"], code="locked", params={"minutes": minutes}
                ) from None
            raise


class PasswordChangeForm(auth_forms.PasswordChangeForm):
    """Labels in Chinese; the validators' own messages come in Chinese from Django's zh-hans
    and accounts/passwords.py."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        labels = {
            "old_password": "原密码",
            "new_password1": "新密码",
            "new_password2": "再次输入新密码",
        }
        for name, label in labels.items():
            self.fields[name].label = label
        # The rules are said once under the form, in the page's words.
        self.fields["new_password1"].help_text = ""

    def save(self, commit=True):
        # Now a password of his own: one an administrator set no longer has to be changed.
        self.user.password_change_required = False
        return super().save(commit=commit)


class SecondFactorForm(forms.Form):
    """A six-digit code from the authenticator app."""

    code = forms.RegexField(
        label="动态口令",
        regex=r"^\s*\d{6}\s*$",
        max_length=20,
        error_messages={
            "required": "请输入动态口令。",
            "invalid": "动态口令是验证器应用上显示的 6 位数字。",
        },
        widget=forms.TextInput(
            attrs={
                "class": "input",
                "inputmode": "numeric",
                "autocomplete": "one-time-code",
                "autofocus": True,
            }
        ),
    )

    def clean_code(self) -> str:
        return self.cleaned_data["code"].strip()


class GrantConfirmForm(forms.Form):
    """One confirm button of the 待复核授权 page: which kind of grant, and which."""

    kind = forms.ChoiceField(choices=[(kind, kind) for kind in KINDS])
    pk = forms.IntegerField(min_value=1)
