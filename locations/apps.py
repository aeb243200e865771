from django.apps import AppConfig


class LocationsConfig(AppConfig):
    name = "locations"
    verbose_name = "Organizations and locations"

    def ready(self):
        # Registers the deploy check that refuses an unsafe SECRET_KEY.
        from cxhub import security  # noqa: F401
