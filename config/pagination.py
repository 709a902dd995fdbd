from rest_framework.pagination import PageNumberPagination


class StandardPagination(PageNumberPagination):
    page_size_query_param = "page_size"
    # A cap keeps one request from pulling a whole county of people in one page.
    max_page_size = 500
