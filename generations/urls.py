from django.urls import path

from . import views

app_name = "generations"

urlpatterns = [
    path("", views.create, name="create"),
    path("gallery/", views.gallery, name="gallery"),
    path("generations/<uuid:id>/", views.detail, name="detail"),
    path("generations/<uuid:id>/cancel/", views.cancel, name="cancel"),
    path("generations/<uuid:id>/video/", views.video, name="video"),
    path("generations/<uuid:id>/poster/", views.poster, name="poster"),
    path("references/<uuid:id>/", views.reference_file, name="reference-file"),
    path("files/<str:kind>/<str:token>/<str:filename>", views.signed_file, name="signed-file"),
]
