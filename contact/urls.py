from django.urls import path

from contact import views

urlpatterns = [
    path("", views.HomeView.as_view(), name="home"),
]
