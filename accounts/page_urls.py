from django.urls import path

from accounts import views

urlpatterns = [
    path("password/", views.PasswordChangePage.as_view(), name="password-change"),
    path("second-factor/", views.second_factor_page, name="second-factor-page"),
    path("second-factor/enrol/", views.second_factor_enrol_page, name="second-factor-enrol-page"),
    path("grants/", views.grant_list_page, name="grant-list-page"),
]
