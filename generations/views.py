"""Pages and fragments of the create → follow → gallery flow. Views stay thin: parse, call, render."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_not_required
from django.core.exceptions import ValidationError
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_http_methods, require_POST
from django_htmx.http import HttpResponseClientRedirect

from accounts.ledger import ChargeRefused, wallet_for_user
from accounts.selectors import teams_for_user
from accounts.services import user_remember_team
from studio.ratelimit import rate_limit_hit, rate_parse

from .catalog import CatalogField, CatalogModel, catalog
from .forms import (
    GenerationForm,
    ReferenceField,
    generation_form_class,
    upload_inspect,
    values_carry_by_role,
)
from .models import Generation, Reference
from .pricing import PriceError, price_quote
from .selectors import (
    catalog_models_available,
    generation_get_for_viewer,
    generation_list_for_gallery,
    providers_paused,
    reference_get_for_owner,
    references_recent,
)
from .services import (
    IllegalTransition,
    ModelUnavailable,
    generation_cancel,
    generation_create,
    reference_store,
    references_store,
)
from .serving import stored_file_response
from .signed_links import signed_file_resolve
from .wire import provider_request_preview

# The roles a price depends on (see pricing.price_quote).
PRICED_ROLES = ("resolution", "duration", "audio_track", "reference_audio")


def _model_from(request: HttpRequest) -> CatalogModel:
    """The model the request names if an admin has not switched it off, else the first that is
    on. A POST keeps the model its form was filled for (creation refuses it if it was switched
    off meanwhile). 404 when every model is off."""
    key = request.POST.get("model") or request.GET.get("model") or ""
    if request.method == "POST" and key in catalog():
        return catalog()[key]
    available = catalog_models_available()
    model = available.get(key) or next(iter(available.values()), None)
    if model is None:
        raise Http404("No model is available right now.")
    return model


def _field_row(
    *, form: GenerationForm, spec: CatalogField, owner: Any, errors: list[str] | None = None
) -> dict[str, Any]:
    """One schema field as the page renders it: its bound field, its errors and, for a file
    field, the chosen reference and the owner's recent ones to pick again."""
    row: dict[str, Any] = {"spec": spec, "field": form[spec.name]}
    row["errors"] = errors if errors is not None else list(form.errors.get(spec.name, []))
    if spec.is_file:
        reference = form.references.get(spec.name)
        if reference is None and not form.is_bound:
            initial = form.initial.get(spec.name)
            if initial:
                reference = reference_get_for_owner(owner=owner, id=initial, kind=spec.type)
                if reference is not None:
                    form.references[spec.name] = reference
        row["reference"] = reference
        recent = references_recent(owner=owner, kind=spec.type)
        if reference is not None and all(item.pk != reference.pk for item in recent):
            recent = [reference, *recent]
        row["recent"] = recent
    return row


def _pay_from(request: HttpRequest) -> dict[str, Any]:
    """The wallets the person can pay from, and the one chosen (a team's slug, or "" for theirs).

    The choice comes from the form, else from the person's remembered team if they are still in it.
    """
    memberships = teams_for_user(user=request.user)
    own = wallet_for_user(user=request.user)
    choices = [{"slug": "", "label": "Your credits", "balance": own.balance}]
    choices += [
        {
            "slug": m.team.slug,
            "label": f"Team {m.team.name}",
            "balance": m.team.wallet.balance if hasattr(m.team, "wallet") else 0,
            "team": m.team,
        }
        for m in memberships
    ]
    wanted = request.POST.get("team") if request.method == "POST" else request.GET.get("team")
    if wanted is None and request.user.preferred_team_id:
        wanted = next(
            (
                c["slug"]
                for c in choices
                if c.get("team") and c["team"].pk == request.user.preferred_team_id
            ),
            "",
        )
    chosen = next((c for c in choices if c["slug"] == (wanted or "")), None)
    return {"choices": choices, "chosen": chosen, "wanted": wanted or ""}


def _live(
    model: CatalogModel, form: GenerationForm, pay: dict[str, Any] | None = None
) -> dict[str, Any]:
    """The price, the wallet it comes from, and the request preview for the form right now."""
    values = form.loose_values()
    files = {}
    for spec in model.fields:
        if spec.is_file:
            reference = form.references.get(spec.name)
            values[spec.name] = reference is not None
            if reference is not None:
                files[spec.name] = "." + reference.file.name.rsplit(".", 1)[-1]
    priced = [model.field_for_role(role) for role in PRICED_ROLES]
    try:
        quote = price_quote(model=model, values=values)
    except PriceError:
        quote = None
    if form.is_bound and any(spec and spec.name in form.errors for spec in priced):
        quote = None  # a price for a value the form refuses would mislead
    clean = {name: value for name, value in values.items() if not model.field(name).is_file}
    preview = provider_request_preview(model=model, values=clean, files=files)
    live: dict[str, Any] = {"quote": quote, "preview": preview, "pay": pay}
    if pay and pay["chosen"] and quote is not None:
        live["shortfall"] = max(quote.credits - pay["chosen"]["balance"], 0)
    return live


def _create_context(request: HttpRequest, model: CatalogModel, form: GenerationForm, **extra):
    rows = [_field_row(form=form, spec=spec, owner=request.user) for spec in model.fields]
    return {
        "models": list(catalog_models_available().values()),
        "paused_providers": providers_paused(),
        "model": model,
        "form": form,
        "rows": rows,
        **_live(model, form, _pay_from(request)),
        **extra,
    }


def _switched_form(
    request: HttpRequest, *, source: CatalogModel, target: CatalogModel
) -> GenerationForm:
    """The target model's form, filled by role from what the source model's form holds.

    Uploads sent with it (the page without JavaScript) are validated and stored, so they carry
    across as references like everything else."""
    data = request.POST.copy()
    if request.FILES:
        source_form = generation_form_class(source)(data, request.FILES, owner=request.user)
        source_form.is_valid()
        stored = references_store(owner=request.user, uploads=source_form.valid_uploads())
        for name, reference in stored.items():
            data[name] = str(reference.id)
    initial = values_carry_by_role(source=source, target=target, data=data)
    return generation_form_class(target)(owner=request.user, initial=initial)


@require_http_methods(["GET", "POST"])
def create(request: HttpRequest) -> HttpResponse:
    """The create page: pick a model, fill its schema's form, see the price, submit."""
    if not catalog_models_available():
        context = {"models": [], "paused_providers": providers_paused()}
        return render(request, "generations/create.html", context)
    model = _model_from(request)
    form_class = generation_form_class(model)
    notice = ""
    if request.method == "POST":
        source = catalog().get(request.POST.get("current_model", "")) or model
        if source.key != model.key or request.POST.get("action") == "switch":
            # A model switch from the page without JavaScript: nothing is submitted.
            form = _switched_form(request, source=source, target=model)
            if source.key != model.key:
                notice = f"Switched to {model.name}; what you entered came along where it fits."
            return render(
                request,
                "generations/create.html",
                _create_context(request, model, form, notice=notice),
            )
        form = form_class(request.POST, request.FILES, owner=request.user)
        valid = form.is_valid()
        # Keep every valid upload, also when another field is wrong, so nothing is chosen twice.
        form.references.update(references_store(owner=request.user, uploads=form.valid_uploads()))
        pay = _pay_from(request)
        if pay["chosen"] is None:
            form.add_error(None, "You are not in that team any more; choose where to pay from.")
            valid = False
        status = 200
        if valid:
            wait = rate_limit_hit(
                key=f"submit:{request.user.pk}", rate=rate_parse(settings.STUDIO_SUBMIT_RATE)
            )
            if wait is not None:
                form.add_error(
                    None,
                    f"You are starting videos very quickly; wait {int(wait + 0.999)} s and submit "
                    "again (everything you entered is still here).",
                )
                valid, status = False, 429
        if valid:
            team = pay["chosen"].get("team")
            try:
                generation = generation_create(
                    user=request.user,
                    model=model,
                    values=form.values(),
                    references=dict(form.references),
                    team=team,
                )
            except (ChargeRefused, ModelUnavailable) as error:
                form.add_error(None, str(error))
            else:
                user_remember_team(user=request.user, team=team)
                url = reverse("generations:detail", args=[generation.id])
                if request.htmx:
                    return HttpResponseClientRedirect(url)
                return HttpResponseRedirect(url, status=303)
        return render(
            request, "generations/create.html", _create_context(request, model, form), status=status
        )
    else:
        form = form_class(owner=request.user)
    return render(request, "generations/create.html", _create_context(request, model, form))


@require_POST
def create_form(request: HttpRequest) -> HttpResponse:
    """The form of the model just picked (htmx swaps it in), carrying values across by role."""
    model = _model_from(request)
    source = catalog().get(request.POST.get("current_model", "")) or model
    form = _switched_form(request, source=source, target=model)
    return render(
        request, "generations/create.html#model-form", _create_context(request, model, form)
    )


@require_POST
def create_preview(request: HttpRequest) -> HttpResponse:
    """The live price and "API request" panel for the form as it stands (htmx, debounced)."""
    model = _model_from(request)
    form = generation_form_class(model)(request.POST, owner=request.user)
    form.is_valid()
    context = {"model": model, "form": form, "oob": True, **_live(model, form, _pay_from(request))}
    response = render(request, "generations/create.html#live", context)
    response["Cache-Control"] = "no-store"
    return response


@require_POST
def reference_upload(request: HttpRequest) -> HttpResponse:
    """Validate and store one reference as soon as it is chosen; answer with its field, showing
    the stored file (or the field's error), for the page to put in place of the old one."""
    model = _model_from(request)
    name = request.POST.get("field", "")
    try:
        spec = model.field(name)
    except KeyError:
        raise Http404("No such field.") from None
    if not spec.is_file:
        raise Http404("No such field.")
    form = generation_form_class(model)(owner=request.user)
    upload = request.FILES.get(name)
    status = 200
    errors: list[str] = []
    if upload is None:
        errors, status = [ReferenceField.default_error_messages["required"]], 400
    else:
        try:
            candidate = upload_inspect(spec, upload)
        except ValidationError as error:
            errors, status = list(error.messages), 400
        else:
            form.references[name] = reference_store(owner=request.user, upload=candidate)
    row = _field_row(form=form, spec=spec, owner=request.user, errors=errors)
    context = {"model": model, "row": row}
    return render(request, "generations/create.html#field", context, status=status)


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
