from django.urls import path

from users import views

# Django's auth views keep Django's URL names (password_reset, ...), which they reverse.
urlpatterns = [
    path("register/", views.RegisterView.as_view(), name="register"),
    path("register/validate/", views.RegisterValidationView.as_view(), name="register-validate"),
    path("register/done/", views.RegisterDoneView.as_view(), name="register-done"),
    path("confirm/resend/", views.ConfirmationResendView.as_view(), name="email-confirm-resend"),
    path("confirm/<str:token>/", views.EmailConfirmView.as_view(), name="email-confirm"),
    path("login/", views.SignInView.as_view(), name="login"),
    path("login/validate/", views.SignInValidationView.as_view(), name="login-validate"),
    # Django's LogoutView accepts POST only.
    path("logout/", views.SignOutView.as_view(), name="logout"),
    path("password/reset/", views.PasswordResetView.as_view(), name="password_reset"),
    path(
        "password/reset/validate/",
        views.PasswordResetValidationView.as_view(),
        name="password_reset_validate",
    ),
    path(
        "password/reset/new/validate/",
        views.NewPasswordValidationView.as_view(),
        name="password_reset_new_validate",
    ),
    path("password/reset/sent/", views.PasswordResetDoneView.as_view(), name="password_reset_done"),
    path(
        "password/reset/done/",
        views.PasswordResetCompleteView.as_view(),
        name="password_reset_complete",
    ),
    path(
        "password/reset/<uidb64>/<token>/",
        views.PasswordResetConfirmView.as_view(),
        name="password_reset_confirm",
    ),
    path("", views.AccountView.as_view(), name="account"),
    path("password/", views.PasswordChangeView.as_view(), name="password_change"),
    path(
        "password/validate/",
        views.PasswordChangeValidationView.as_view(),
        name="password_change_validate",
    ),
    path("delete/", views.AccountDeleteView.as_view(), name="account_delete"),
    path(
        "delete/validate/",
        views.AccountDeleteValidationView.as_view(),
        name="account_delete_validate",
    ),
]
