"""Public pages. 一键申报 works without login on any phone, without JavaScript."""

from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.shortcuts import render
from django.utils import timezone
from django.views.decorators.csrf import csrf_protect

from config.ratelimit import allow, client_ip
from households.choices import RegionLevel
from households.models import Region
from monitor.api.views import NoticeListQuery
from monitor.choices import RISK_TYPES
from monitor.feeds.applications import accept_days, self_application_submit
from monitor.selectors import notice_list

# The page lists villages of one county (the QR code on the village notice board names the
# village itself); past this many, ask for a county instead of listing a province.
MAX_LISTED_VILLAGES = 400
APPLY_LIMIT_PER_HOUR = 10


def _digits(text: str) -> str:
    return text if text.isascii() and text.isdigit() else ""


def _villages(request):
    village = _digits(request.GET.get("village", ""))
    county = _digits(request.GET.get("county", ""))
    villages = Region.objects.filter(level=RegionLevel.VILLAGE, retired=False)
    if village:
        return villages.filter(code=village).select_related("parent")
    if county:
        return villages.filter(code__startswith=county[:6]).select_related("parent")
    if villages.count() <= MAX_LISTED_VILLAGES:
        return villages.select_related("parent")
    return villages.none()


@csrf_protect
def self_application_page(request):
    context = {"villages": _villages(request), "risk_types": RISK_TYPES, "values": {}, "errors": {}}
    if request.method == "POST":
        values = {
            key: request.POST.get(key, "")
            for key in ("name", "phone", "id_number", "difficulty", "village", "risk_type")
        }
        context["values"] = values
        if not allow(f"apply:{client_ip(request)}", limit=APPLY_LIMIT_PER_HOUR, seconds=3600):
            context["errors"] = {"form": "提交过于频繁，请一小时后再试，或直接联系村干部。"}
            return render(request, "monitor/apply.html", context, status=429)
        try:
            application = self_application_submit(**values)
        except ValidationError as exc:
            context["errors"] = {
                field: "；".join(messages) for field, messages in exc.message_dict.items()
            }
            return render(request, "monitor/apply.html", context, status=400)
        # The village's own time limit (its county may shorten the default).
        context.update(done=application, days=accept_days(application.village_id))
    return render(request, "monitor/apply.html", context)


@login_required
def notice_list_page(request):
    """公示名单, printable: names, category and village only — never ID, phone, bank account
    or health. Dates default to the current month."""
    today = timezone.localdate()
    form = NoticeListQuery(
        data={
            "start": request.GET.get("start") or today.replace(day=1),
            "end": request.GET.get("end") or today,
        }
    )
    rows, errors = [], {}
    if form.is_valid():
        rows = list(notice_list(request.user, **form.validated_data))
    else:
        errors = {
            field: "；".join(str(m) for m in messages) for field, messages in form.errors.items()
        }
    return render(
        request,
        "monitor/notice_list.html",
        {
            "rows": rows,
            "errors": errors,
            "start": form.data["start"],
            "end": form.data["end"],
            "region": request.user.region,
        },
    )
