from django.core.paginator import InvalidPage
from rest_framework.exceptions import NotFound, ValidationError
from rest_framework.pagination import PageNumberPagination


class PageNotFound(NotFound):
    """A page past the last one. Its message says so; the exception handler keeps it rather
    than the generic "not found, or not in your region" of a missing object."""


class StandardPagination(PageNumberPagination):
    page_size_query_param = "page_size"
    # A cap keeps one request from pulling a whole county of people in one page.
    max_page_size = 500

    def get_page_size(self, request):
        raw = request.query_params.get(self.page_size_query_param)
        if not raw:
            return self.page_size
        # Told, not silently replaced by the default or the cap: a client asking for 1,000
        # rows a page should learn it gets at most 500.
        try:
            size = int(raw)
        except ValueError:
            size = 0
        if not 1 <= size <= self.max_page_size:
            raise ValidationError(
                {self.page_size_query_param: [f"每页条数应为 1 至 {self.max_page_size} 的整数"]}
            )
        return size

    def get_schema_operation_parameters(self, view):
        parameters = super().get_schema_operation_parameters(view)
        bounds = {
            self.page_query_param: {"minimum": 1},
            self.page_size_query_param: {"minimum": 1, "maximum": self.max_page_size},
        }
        for parameter in parameters:
            parameter["schema"] = {**parameter["schema"], **bounds.get(parameter["name"], {})}
        return parameters

    def paginate_queryset(self, queryset, request, view=None):
        page_size = self.get_page_size(request)
        if not page_size:
            return None
        self.request = request
        paginator = self.django_paginator_class(queryset, page_size)
        raw = request.query_params.get(self.page_query_param) or "1"
        if raw in self.last_page_strings:
            number = paginator.num_pages
        else:
            # A malformed number is the caller's bad input (400, naming the parameter); a
            # well-formed one past the end is a page that does not exist (404, with the count).
            try:
                number = int(raw)
            except ValueError:
                raise ValidationError({self.page_query_param: ["页码应为正整数"]}) from None
            if number < 1:
                raise ValidationError({self.page_query_param: ["页码应为正整数"]})
        try:
            self.page = paginator.page(number)
        except InvalidPage:
            raise PageNotFound(
                f"页码超出范围：共 {paginator.num_pages} 页，请求的是第 {number} 页。"
            ) from None
        if paginator.num_pages > 1 and self.template is not None:
            self.display_page_controls = True
        return list(self.page)
