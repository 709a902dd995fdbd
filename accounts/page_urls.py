from django.urls import path

from accounts import views

urlpatterns = [
    path("password/", views.PasswordChangePage.as_view(), name="password-change"),
]
