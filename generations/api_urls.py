from django.urls import path

from . import api

app_name = "api"

urlpatterns = [
    path("video/generations", api.generations, name="generations"),
    path("video/generations/<str:task_id>", api.generation, name="generation"),
    path(
        "video/generations/<str:task_id>/cancel",
        api.generation_cancel_view,
        name="generation-cancel",
    ),
    path("batches", api.batches, name="batches"),
    path("batches/<str:batch_id>", api.batch, name="batch"),
    path("models", api.models, name="models"),
    path("models/<str:key>", api.model, name="model"),
    path("openapi.json", api.openapi, name="openapi"),
]
