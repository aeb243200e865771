from django.urls import path

from . import views

app_name = "dashboard"

EXPORT = "export/<str:table>.<str:fmt>"

urlpatterns = [
    path("", views.DashboardHome.as_view(), name="home"),
    path("<slug:org>/", views.OverviewPage.as_view(), name="organization"),
    path("<slug:org>/cases/", views.CaseTablePage.as_view(), name="cases"),
    path(f"<slug:org>/{EXPORT}", views.ExportView.as_view(), name="organization-export"),
    path("<slug:org>/regions/<int:region>/", views.OverviewPage.as_view(), name="region"),
    path(
        f"<slug:org>/regions/<int:region>/{EXPORT}",
        views.ExportView.as_view(),
        name="region-export",
    ),
    path("<slug:org>/stores/<str:code>/", views.StorePage.as_view(), name="store"),
    path(f"<slug:org>/stores/<str:code>/{EXPORT}", views.ExportView.as_view(), name="store-export"),
    path(
        "<slug:org>/stores/<str:code>/staff/<str:staff>/", views.StaffPage.as_view(), name="staff"
    ),
]
