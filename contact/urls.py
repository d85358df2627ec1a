from django.urls import path

from contact import views

urlpatterns = [
    path("", views.HomeView.as_view(), name="home"),
    path("messages/", views.MessageListView.as_view(), name="message-list"),
    path("messages/<int:pk>/", views.MessageDetailView.as_view(), name="message-detail"),
    path("messages/new/", views.MessageCreateView.as_view(), name="message-new"),
    path(
        "messages/new/validate/",
        views.MessageValidationView.as_view(),
        name="message-new-validate",
    ),
]
