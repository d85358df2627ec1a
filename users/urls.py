from django.contrib.auth.views import LogoutView
from django.urls import path

from users import views

urlpatterns = [
    path("register/", views.RegisterView.as_view(), name="register"),
    path("register/validate/", views.RegisterValidationView.as_view(), name="register-validate"),
    path("login/", views.SignInView.as_view(), name="login"),
    path("login/validate/", views.SignInValidationView.as_view(), name="login-validate"),
    # Django's LogoutView accepts POST only.
    path("logout/", LogoutView.as_view(), name="logout"),
]
