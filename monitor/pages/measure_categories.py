"""管理 › 帮扶措施类别: which categories of the aid catalogue are developmental (开发式帮扶:
a household that can work needs one before clearance) and which count as cover of an
illness risk (因病: 健康帮扶, 综合保障 — not 社会帮扶). The administrator's data
(`measure_category.manage`); each change goes through one audited service."""

from django import forms
from django.contrib import messages
from django.shortcuts import redirect, render
from django.views.decorators.http import require_http_methods

from config.pages import call_service
from interventions.models import MeasureCategory
from interventions.services import MEASURE_CATEGORY_MANAGE, measure_categories_set
from monitor.pages.administration import manage_page


def measure_categories_managed_by(user):
    """The catalogue (one for the installation) for whom the policy lets keep it."""
    from accounts import policy

    if not policy.allows(user, MEASURE_CATEGORY_MANAGE):
        return MeasureCategory.objects.none()
    return MeasureCategory.objects.order_by("sort_order", "code")


class MeasureCategoriesForm(forms.Form):
    developmental = forms.MultipleChoiceField(
        label="开发式帮扶", required=False, widget=forms.CheckboxSelectMultiple
    )
    covers_illness = forms.MultipleChoiceField(
        label="可作为因病致险的保障措施", required=False, widget=forms.CheckboxSelectMultiple
    )

    def __init__(self, *args, categories, **kwargs):
        super().__init__(*args, **kwargs)
        choices = [(c.code, c.name) for c in categories]
        for field in self.fields.values():
            field.choices = choices
            field.error_messages = {
                **field.error_messages,
                "invalid_choice": "请选择有效的措施类别",
            }


@require_http_methods(["GET", "POST"])
@manage_page(MEASURE_CATEGORY_MANAGE)
def measure_category_list_page(request):
    categories = list(measure_categories_managed_by(request.user))
    initial = {
        "developmental": [c.code for c in categories if c.developmental],
        "covers_illness": [c.code for c in categories if c.covers_illness],
    }
    form = MeasureCategoriesForm(
        request.POST if request.method == "POST" else None,
        initial=initial,
        categories=categories,
    )
    if request.method == "POST" and form.is_valid():
        changed = call_service(
            form,
            measure_categories_set,
            by=request.user,
            developmental=set(form.cleaned_data["developmental"]),
            covers_illness=set(form.cleaned_data["covers_illness"]),
        )
        if changed is not None:
            messages.success(
                request,
                f"已保存，{len(changed)} 个类别有变化。" if changed else "没有变化。",
            )
            return redirect("measure-category-list-page")
    chosen = {
        name: set(form.data.getlist(name)) if form.is_bound else set(initial[name])
        for name in ("developmental", "covers_illness")
    }
    rows = [
        {
            "category": c,
            "developmental": c.code in chosen["developmental"],
            "covers_illness": c.code in chosen["covers_illness"],
        }
        for c in categories
    ]
    return render(
        request,
        "administration/measure_categories.html",
        {"form": form, "rows": rows},
        status=400 if form.errors else 200,
    )
