"""成员状态变更 page: a member of the household page leaves the register (死亡 / 户籍迁出),
through the one service (households.life.member_life_status_record). Offered, on the
household page and here, exactly when the policy allows `member.life_status` on the member
(a village cadre or township reviewer of its region, a member still in the register)."""

from django import forms
from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.shortcuts import get_object_or_404, redirect, render

from accounts import policy
from config.pages import call_service, people_page
from households.choices import LifeStatus
from households.life import ACTION, member_life_status_record
from households.selectors import households_for

DATE = forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d")
CHINESE = {"required": "此项必填", "invalid": "格式不正确", "invalid_choice": "请选择有效的选项"}


class LifeStatusForm(forms.Form):
    status = forms.ChoiceField(
        label="成员状态",
        choices=[(LifeStatus.DECEASED, "死亡"), (LifeStatus.MOVED_OUT, "户籍迁出")],
        widget=forms.RadioSelect,
    )
    on = forms.DateField(label="死亡或迁出日期", widget=DATE)
    evidence = forms.CharField(
        label="依据",
        max_length=300,
        widget=forms.Textarea(attrs={"rows": 2}),
        help_text="如死亡证明、火化证明、户口迁移证明及其编号",
    )

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        for field in self.fields.values():
            field.error_messages = {**field.error_messages, **CHINESE}
        self.fields["on"].error_messages["invalid"] = "请输入有效日期（年-月-日）"


@people_page
def member_life_status_page(request, pk: int, member_pk: int):
    household = get_object_or_404(
        households_for(request.user).select_related("village__parent"), pk=pk
    )
    member = get_object_or_404(household.members.all(), pk=member_pk)
    role = policy.decide(request.user, ACTION)
    if not role:
        raise PermissionDenied(role.reason)
    decision = policy.decide(request.user, ACTION, member)
    # No day filled in: a death or move-out recorded days later must not take today's date
    # because nobody changed it.
    form = LifeStatusForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        saved = call_service(
            form, member_life_status_record, member=member, by=request.user, **form.cleaned_data
        )
        if saved is not None:
            household.refresh_from_db()
            text = f"已登记{saved.name}「{saved.get_life_status_display()}」。"
            if household.closed_on is not None:
                text += "该户已无在册成员，已销户；在办监测案例已销户终止。"
            messages.success(request, text)
            return redirect("household-page", household.pk)
    others = household.members.filter(life_status=LifeStatus.IN_REGISTER).exclude(pk=member.pk)
    context = {
        "household": household,
        "member": member,
        "form": form if decision else None,
        "refusal": "" if decision else decision.reason,
        "last_in_register": decision.allowed and not others.exists(),
    }
    return render(
        request,
        "households/life_status_page.html",
        context,
        status=400 if form.errors else 200,
    )
