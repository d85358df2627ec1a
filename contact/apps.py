from django.apps import AppConfig


class ContactConfig(AppConfig):
    name = "contact"
    verbose_name = "Messages to the administrator"

    def ready(self) -> None:
        # Declares the delivery actor, and so its queue, on the broker in every process,
        # the web process included, before any worker starts consuming.
        from contact import tasks  # noqa: F401
