from django.urls import path

from . import share_views, views, webhooks

app_name = "generations"

urlpatterns = [
    path("", views.create, name="create"),
    path("create/form/", views.create_form, name="create-form"),
    path("create/preview/", views.create_preview, name="create-preview"),
    path("references/upload/", views.reference_upload, name="reference-upload"),
    path("gallery/", views.gallery, name="gallery"),
    path("gallery/bulk/", views.gallery_bulk, name="gallery-bulk"),
    path("gallery/restore/", views.gallery_restore, name="gallery-restore"),
    path("compare/", views.compare, name="compare"),
    path("batches/<uuid:id>/", views.batch_page, name="batch"),
    path("batches/<uuid:id>/cancel/", views.batch_cancel, name="batch-cancel"),
    path("generations/notices/", views.notices, name="notices"),
    path("generations/notices/dismiss/", views.notices_dismiss, name="notices-dismiss"),
    path("generations/<uuid:id>/", views.detail, name="detail"),
    path("generations/<uuid:id>/card/", views.card, name="card"),
    path("generations/<uuid:id>/cancel/", views.cancel, name="cancel"),
    path("generations/<uuid:id>/favourite/", views.favourite, name="favourite"),
    path("generations/<uuid:id>/delete/", views.delete, name="delete"),
    path("generations/<uuid:id>/retry/", views.retry, name="retry"),
    path("generations/<uuid:id>/video/", views.video, name="video"),
    path("generations/<uuid:id>/poster/", views.poster, name="poster"),
    path("generations/<uuid:id>/share-link/", share_views.share_link, name="share-link"),
    path("generations/<uuid:id>/team/", share_views.share_team, name="share-team"),
    path("s/<str:token>/", share_views.shared_page, name="shared"),
    path("s/<str:token>/video.mp4", share_views.shared_video, name="shared-video"),
    path("s/<str:token>/poster.jpg", share_views.shared_poster, name="shared-poster"),
    path(
        "generations/<uuid:id>/reference/",
        views.generation_reference,
        {"kind": "image"},
        name="generation-reference",
    ),
    path(
        "generations/<uuid:id>/audio/",
        views.generation_reference,
        {"kind": "audio"},
        name="generation-audio",
    ),
    path("references/<uuid:id>/", views.reference_file, name="reference-file"),
    path("files/<str:kind>/<str:token>/<str:filename>", views.signed_file, name="signed-file"),
    path("webhooks/apiframe/", webhooks.apiframe_webhook, name="webhook-apiframe"),
]
