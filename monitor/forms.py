"""Forms of the case pages. They check the shape of the input; the services check the
rules (so page and API refuse the same things with the same words)."""

from django import forms
from django.core.validators import MaxValueValidator, MinValueValidator
from django.utils import timezone

from interventions.models import MeasureCategory, MeasureRecord
from monitor.choices import (
    MAX_RISK_TYPES,
    RISK_TYPES,
    Category,
    Channel,
    ClearanceKind,
    CrossCheckResult,
    NaturalReason,
)
from monitor.models import Appraisal, CrossCheckItem, HomeVisit, MonthlyVisit, PublicNotice

DATE = forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d")
MAX_SMALL_INTEGER = 32767
MAX_ID_DIGITS = 18  # below 2**63, the largest primary key
REQUIRED = {"required": "此项必填", "invalid": "格式不正确", "invalid_choice": "请选择有效的选项"}


def _chinese_errors(form: forms.BaseForm) -> None:
    for field in form.fields.values():
        field.error_messages = {**field.error_messages, **REQUIRED}
        if isinstance(field, forms.DateField):
            field.widget = DATE
            field.error_messages["invalid"] = "请输入有效日期（年-月-日）"


class ChineseForm(forms.Form):
    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        _chinese_errors(self)


class ChineseModelForm(forms.ModelForm):
    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        _chinese_errors(self)


class CaseFileForm(ChineseForm):
    category = forms.ChoiceField(
        label="监测对象类别", choices=Category.choices, widget=forms.RadioSelect
    )
    risk_codes = forms.MultipleChoiceField(
        label="风险类型（1至5项）", choices=RISK_TYPES, widget=forms.CheckboxSelectMultiple
    )
    main_risk = forms.ChoiceField(
        label="主要风险",
        choices=[("", "（默认为所选的第一项）"), *RISK_TYPES],
        required=False,
        help_text="须是所选风险类型之一",
    )
    found_on = forms.DateField(label="发现风险日期")
    channel = forms.ChoiceField(
        label="发现渠道", choices=Channel.choices, initial=Channel.CADRE_SCREENING
    )
    description = forms.CharField(
        label="困难情况", widget=forms.Textarea, max_length=2000, required=False
    )
    green_channel = forms.BooleanField(
        label="绿色通道（灾害、意外等明显情形，先行帮扶、后履行程序）", required=False
    )

    def clean_risk_codes(self):
        codes = self.cleaned_data["risk_codes"]
        if len(codes) > MAX_RISK_TYPES:
            raise forms.ValidationError(f"风险类型最多选择 {MAX_RISK_TYPES} 项")
        return codes

    def clean_found_on(self):
        day = self.cleaned_data["found_on"]
        if day > timezone.localdate():
            raise forms.ValidationError("发现风险日期不能晚于今天")
        return day


class TransitionForm(ChineseForm):
    action = forms.CharField(widget=forms.HiddenInput)
    comment = forms.CharField(
        label="意见或理由", widget=forms.Textarea(attrs={"rows": 2}), max_length=500, required=False
    )
    clearance_kind = forms.ChoiceField(
        label="风险消除方式",
        choices=ClearanceKind.choices,
        widget=forms.RadioSelect,
        required=False,
    )
    # 自然消除: why the risk went away and its evidence (the workflow checks them by field).
    natural_reason = forms.ChoiceField(
        label="自然消除原因",
        choices=[("", "请选择"), *NaturalReason.choices],
        required=False,
    )
    natural_member_id = forms.TypedChoiceField(
        label="致险成员（致险成员去世时必选）",
        coerce=int,
        choices=[("", "请选择")],
        required=False,
        empty_value=None,
    )
    natural_evidence = forms.CharField(
        label="自然消除依据",
        widget=forms.Textarea(attrs={"rows": 2}),
        max_length=500,
        required=False,
        help_text="如死亡证明、康复诊断、户籍迁出证明，不少于 4 个字",
    )

    def __init__(self, *args, members=(), **kwargs):
        super().__init__(*args, **kwargs)
        # The household's members, those who left the register marked (a death is chosen
        # among them).
        self.fields["natural_member_id"].choices = [
            ("", "请选择"),
            *(
                (
                    m.pk,
                    f"{m.name}（{m.get_life_status_display()}）"
                    if m.life_status != "in_register"
                    else m.name,
                )
                for m in members
            ),
        ]

    def natural_data(self) -> dict:
        """The 自然消除 arguments of the workflow step, when the kind is natural."""
        data = self.cleaned_data
        if data.get("clearance_kind") != ClearanceKind.NATURAL:
            return {}
        return {
            "natural_reason": data.get("natural_reason") or "",
            "natural_member_id": data.get("natural_member_id"),
            "natural_evidence": data.get("natural_evidence") or "",
        }


class HomeVisitForm(ChineseModelForm):
    class Meta:
        model = HomeVisit
        fields = ["visited_on", "visitors", "findings"]


class ConsentForm(ChineseForm):
    signed_on = forms.DateField(label="签署日期")
    scan = forms.FileField(label="签字扫描件（PDF、JPG 或 PNG，不超过 10 MB）")


class AppraisalForm(ChineseModelForm):
    class Meta:
        model = Appraisal
        fields = ["held_on", "result", "participants", "notes"]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        # The column's range (PositiveSmallIntegerField): PostgreSQL's validators refuse a
        # larger number, while SQLite, which has no such range, stored 99999 participants.
        self.fields["participants"].validators.append(
            MaxValueValidator(MAX_SMALL_INTEGER, "参会人数不正确")
        )


class NoticeForm(ChineseModelForm):
    class Meta:
        model = PublicNotice
        fields = ["start_on", "end_on", "objections", "objections_resolved"]

    def clean(self):
        cleaned = super().clean()
        start, end = cleaned.get("start_on"), cleaned.get("end_on")
        if start and end and end < start:
            self.add_error("end_on", "公示结束日期不能早于开始日期")
        return cleaned

    def _post_clean(self):
        # The model's own constraint check would repeat the message above in English terms;
        # the service validates the saved record.
        pass


class MonthlyVisitForm(ChineseModelForm):
    class Meta:
        model = MonthlyVisit
        fields = ["visited_on", "visitors", "findings", "risk_changed"]


def _amount_not_negative(form: forms.BaseForm) -> None:
    # Else the model's check constraint refuses it, in words that name the constraint
    # ("约束 “measure_amount_not_negative” 是无效的").
    form.fields["amount"].validators.append(MinValueValidator(0, "金额不能为负数"))


class MemberChoiceField(forms.ModelMultipleChoiceField):
    """Members by primary key. Django checks the chosen keys with one `pk__in` query, which,
    unlike `pk=`, hands a number too large for the column to the database: SQLite raised
    OverflowError (a 500). A value that cannot be a key is an invalid choice."""

    def _check_values(self, value):
        for pk in value:
            text = str(pk)
            if not (text.isascii() and text.isdigit() and len(text) <= MAX_ID_DIGITS):
                raise forms.ValidationError(
                    self.error_messages["invalid_choice"], code="invalid_choice"
                )
        return super()._check_values(value)


class MeasureForm(ChineseModelForm):
    category = forms.ModelChoiceField(
        label="措施类别", queryset=MeasureCategory.objects.filter(active=True)
    )

    class Meta:
        model = MeasureRecord
        fields = [
            "category",
            "description",
            "department",
            "start_on",
            "end_on",
            "amount",
            "beneficiaries",
            "status",
        ]
        widgets = {"beneficiaries": forms.CheckboxSelectMultiple}
        labels = {"beneficiaries": "受益成员（不选为全户）"}
        field_classes = {"beneficiaries": MemberChoiceField}

    def __init__(self, *args, members=None, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["beneficiaries"].queryset = members
        self.fields["beneficiaries"].required = False
        _amount_not_negative(self)

    def _post_clean(self):
        # Checked by the service against the case (dates, beneficiaries, category).
        pass


class MeasureProgressForm(ChineseModelForm):
    """A measure's progress: what changes once it is recorded (its category never does)."""

    class Meta:
        model = MeasureRecord
        fields = ["description", "end_on", "amount", "status"]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        _amount_not_negative(self)

    def _post_clean(self):
        pass


class AidPlanForm(ChineseForm):
    summary = forms.CharField(
        label="帮扶思路", widget=forms.Textarea, max_length=2000, required=False
    )
    responsible_person = forms.CharField(label="帮扶责任人", max_length=100, required=False)


class PlannedItemForm(ChineseForm):
    category = forms.ModelChoiceField(
        label="措施类别", queryset=MeasureCategory.objects.filter(active=True), required=False
    )
    description = forms.CharField(label="计划内容", max_length=300, required=False)

    def clean(self):
        cleaned = super().clean()
        if cleaned.get("description") and not cleaned.get("category"):
            self.add_error("category", "请选择措施类别")
        if cleaned.get("category") and not cleaned.get("description"):
            self.add_error("description", "请填写计划内容")
        return cleaned


class ReviewBatchForm(ChineseForm):
    action = forms.CharField()
    cases = forms.TypedMultipleChoiceField(coerce=int, choices=[])
    comment = forms.CharField(max_length=500, required=False)


class CrossCheckForm(ChineseForm):
    """信息比对: the day, then each item of the negative list now in use with its result and
    a note (required by the service for 发现 and 无法比对). Cleaned into the service's
    arguments: checked_on, note and findings."""

    checked_on = forms.DateField(label="比对日期")

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.items = list(CrossCheckItem.objects.filter(active=True))
        for item in self.items:
            self.fields[f"result_{item.code}"] = forms.ChoiceField(
                label=item.name,
                choices=CrossCheckResult.choices,
                widget=forms.RadioSelect,
                initial=CrossCheckResult.CLEAR,
                help_text=item.description,
            )
            self.fields[f"note_{item.code}"] = forms.CharField(
                label=f"{item.name}：情况说明", max_length=300, required=False
            )
        self.fields["note"] = forms.CharField(
            label="比对说明（数据来源等）", max_length=500, required=False
        )
        _chinese_errors(self)

    def clean(self):
        cleaned = super().clean()
        if self.errors:
            return cleaned
        return {
            "checked_on": cleaned["checked_on"],
            "note": cleaned.get("note", ""),
            "findings": [
                {
                    "item": item.code,
                    "result": cleaned[f"result_{item.code}"],
                    "note": cleaned.get(f"note_{item.code}", ""),
                }
                for item in self.items
            ],
        }
