from django.urls import path

from monitor.pages import home
from monitor.views import notice_list_page

urlpatterns = [
    path("", home.home_page, name="home"),
    path("cases/notice-list/", notice_list_page, name="notice-list-page"),
]
