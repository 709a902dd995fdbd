"""台账导出 pages (included at the site root). The names end in -page: the API's router
names export-list, export-detail and export-download."""

from django.urls import path

from monitor.pages import exports

urlpatterns = [
    path("exports/", exports.export_list_page, name="export-list-page"),
    path("exports/<uuid:pk>/", exports.export_page, name="export-page"),
    path("exports/<uuid:pk>/download/", exports.export_download_page, name="export-download-page"),
]
