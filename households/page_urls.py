from django.urls import path

from households import life_pages, views

urlpatterns = [
    path("households/", views.HouseholdListPage.as_view(), name="household-list-page"),
    path("households/<int:pk>/", views.household_page, name="household-page"),
    path("households/<int:pk>/income/", views.household_income_page, name="household-income-page"),
    path(
        "households/<int:pk>/members/<int:member_pk>/reveal/",
        views.member_reveal_page,
        name="member-reveal-page",
    ),
    path(
        "households/<int:pk>/members/<int:member_pk>/life-status/",
        life_pages.member_life_status_page,
        name="member-life-status-page",
    ),
]
urlpatterns += [
    path("households/import/", views.registry_import_page, name="registry-import-page"),
    path(
        "households/import/<int:pk>/",
        views.registry_import_result_page,
        name="registry-import-result-page",
    ),
]
