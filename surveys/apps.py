from django.apps import AppConfig
from django.db.models.signals import post_delete, post_save


class SurveysConfig(AppConfig):
    name = "surveys"
    verbose_name = "Surveys and responses"

    def ready(self):
        from . import recovery
        from .models import AlertRule

        # A rule changed in the admin (or anywhere) takes effect at the next request.
        def forget(sender, instance, **kwargs):
            recovery.forget_thresholds(instance.organization_id)

        post_save.connect(
            forget, sender=AlertRule, weak=False, dispatch_uid="surveys-forget-thresholds"
        )
        post_delete.connect(
            forget, sender=AlertRule, weak=False, dispatch_uid="surveys-forget-thresholds-del"
        )
