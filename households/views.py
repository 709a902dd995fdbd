"""Server-rendered pages. The full web application comes later; these share the selectors
the API uses, so the page and the API cannot disagree on scope or search."""

from django.contrib.auth.mixins import LoginRequiredMixin
from django.core.exceptions import ValidationError
from django.views.generic import ListView

from accounts.scope import region_prefix_of
from households.selectors import households_for, search_households


class HouseholdListPage(LoginRequiredMixin, ListView):
    template_name = "households/household_list.html"
    context_object_name = "households"
    paginate_by = 50

    def get_queryset(self):
        self.search_error = None
        self.query = self.request.GET.get("q", "").strip()
        queryset = households_for(self.request.user).order_by("number")
        try:
            return search_households(queryset, self.query)
        except ValidationError as exc:
            self.search_error = "；".join(exc.messages)
            return queryset.none()

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        user = self.request.user
        context.update(
            query=self.query,
            search_error=self.search_error,
            in_scope=region_prefix_of(user) is not None,
            region=user.region,
        )
        return context
