from django.urls import path

from households import views

urlpatterns = [
    path("households/", views.HouseholdListPage.as_view(), name="household-list-page"),
]
