"""Pages and fragments of the create → follow → gallery flow. Views stay thin: parse, call, render."""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_not_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_http_methods, require_POST
from django_htmx.http import HttpResponseClientRedirect

from accounts.ledger import ChargeRefused

from .catalog import CatalogModel, catalog
from .forms import GenerationForm, generation_form_class
from .models import Generation, Reference
from .selectors import (
    generation_get_for_viewer,
    generation_list_for_gallery,
    reference_get_for_owner,
)
from .services import IllegalTransition, generation_cancel, generation_create, references_store
from .serving import stored_file_response
from .signed_links import signed_file_resolve


def _model_from(request: HttpRequest) -> CatalogModel:
    models = catalog()
    key = request.POST.get("model") or request.GET.get("model") or ""
    return models.get(key) or next(iter(models.values()))


def _form_rows(form: GenerationForm) -> list[dict[str, Any]]:
    """Each schema field with its bound field and, for files, the stored reference it holds."""
    rows = []
    for spec in form.catalog_model.fields:
        rows.append(
            {
                "spec": spec,
                "field": form[spec.name],
                "reference": form.references.get(spec.name),
            }
        )
    return rows


@require_http_methods(["GET", "POST"])
def create(request: HttpRequest) -> HttpResponse:
    model = _model_from(request)
    form_class = generation_form_class(model)
    if request.method == "POST":
        form = form_class(request.POST, request.FILES, owner=request.user)
        valid = form.is_valid()
        # Keep every valid upload, also when another field is wrong, so nothing is chosen twice.
        form.references.update(references_store(owner=request.user, uploads=form.valid_uploads()))
        if valid:
            try:
                generation = generation_create(
                    user=request.user,
                    model=model,
                    values=form.values(),
                    references=dict(form.references),
                )
            except ChargeRefused as error:
                form.add_error(None, str(error))
            else:
                url = reverse("generations:detail", args=[generation.id])
                if request.htmx:
                    return HttpResponseClientRedirect(url)
                return redirect(url, permanent=False)
    else:
        form = form_class(owner=request.user)
    context = {
        "models": list(catalog().values()),
        "model": model,
        "form": form,
        "rows": _form_rows(form),
    }
    return render(request, "generations/create.html", context)


@require_GET
def detail(request: HttpRequest, id: str) -> HttpResponse:
    generation = generation_get_for_viewer(viewer=request.user, id=id)
    context = {"generation": generation, "events": generation.events.all()}
    template = "generations/detail.html"
    if request.htmx:
        template += "#generation-status"
    response = render(request, template, context)
    response["Vary"] = "HX-Request"
    return response


@require_POST
def cancel(request: HttpRequest, id: str) -> HttpResponse:
    generation = generation_get_for_viewer(viewer=request.user, id=id)
    if generation.owner_id != request.user.pk:
        raise Http404("No such generation.")
    try:
        generation_cancel(generation=generation, by=request.user)
    except IllegalTransition:
        messages.error(request, "It has already been sent to the provider, so it runs to its end.")
    else:
        messages.success(request, "Cancelled; your credits were refunded.")
    return redirect("generations:detail", id=generation.id)


@require_GET
def gallery(request: HttpRequest) -> HttpResponse:
    generations = generation_list_for_gallery(viewer=request.user)
    return render(request, "generations/gallery.html", {"generations": generations})


@require_GET
def video(request: HttpRequest, id: str) -> HttpResponse:
    generation = generation_get_for_viewer(viewer=request.user, id=id)
    if not generation.video:
        raise Http404("No video yet.")
    download = request.GET.get("download") == "1"
    return stored_file_response(
        request,
        generation.video.name,
        content_type="video/mp4",
        download_name=f"studio-{generation.id}.mp4" if download else None,
        as_attachment=download,
        cache_seconds=3600,
    )


@require_GET
def poster(request: HttpRequest, id: str) -> HttpResponse:
    generation = generation_get_for_viewer(viewer=request.user, id=id)
    if not generation.poster:
        raise Http404("No poster yet.")
    return stored_file_response(
        request, generation.poster.name, content_type="image/jpeg", cache_seconds=3600
    )


@require_GET
def reference_file(request: HttpRequest, id: str) -> HttpResponse:
    reference = reference_get_for_owner(owner=request.user, id=id)
    if reference is None:
        raise Http404("No such file.")
    return stored_file_response(
        request, reference.file.name, content_type=reference.content_type, cache_seconds=3600
    )


@login_not_required
@require_http_methods(["GET", "HEAD"])
def signed_file(request: HttpRequest, kind: str, token: str, filename: str) -> HttpResponse:
    """The bytes of one file for whoever holds an unexpired signature (providers, API callers)."""
    signed = signed_file_resolve(kind=kind, token=token)
    if signed is None:
        raise Http404("This link is not valid or has expired.")
    if signed.kind == "reference":
        reference = Reference.objects.filter(pk=signed.object_id).first()
        if reference is None:
            raise Http404("This link is not valid or has expired.")
        return stored_file_response(
            request, reference.file.name, content_type=reference.content_type
        )
    generation = Generation.objects.filter(pk=signed.object_id, deleted_at__isnull=True).first()
    if generation is None or not generation.video:
        raise Http404("This link is not valid or has expired.")
    return stored_file_response(request, generation.video.name, content_type="video/mp4")


@require_GET
def api_reference(request: HttpRequest) -> HttpResponse:
    """A readable reference of the API, built from the same catalog as the OpenAPI document."""
    from django.conf import settings

    from .openapi import model_description

    context = {
        "models": [model_description(m) for m in catalog().values()],
        "base_url": settings.STUDIO_PUBLIC_URL,
    }
    return render(request, "generations/api_reference.html", context)
