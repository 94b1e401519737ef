from django.apps import AppConfig


class HallpassAllauthConfig(AppConfig):
    name = "hallpass_allauth"
    default_auto_field = "django.db.models.AutoField"
