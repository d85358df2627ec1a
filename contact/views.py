from django.views.generic import TemplateView


class HomeView(TemplateView):
    """Visitors are invited to sign up or sign in; signed-in people write from here."""

    template_name = "home.html"
