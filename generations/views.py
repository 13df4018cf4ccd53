"""Pages and fragments of the create → follow → gallery flow. Views stay thin: parse, call, render."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_not_required
from django.core.exceptions import ValidationError
from django.http import Http404, HttpResponse, HttpResponseRedirect
from django.http.response import HttpResponseBase
from django.shortcuts import get_object_or_404, redirect, render
from django.template.defaultfilters import pluralize
from django.urls import reverse
from django.utils.cache import patch_vary_headers
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import (
    require_GET,
    require_http_methods,
    require_POST,
    require_safe,
)
from django_htmx.http import HttpResponseClientRedirect

from accounts.ledger import ChargeRefused, wallet_for_user
from accounts.models import Team
from accounts.selectors import teams_for_user
from studio.http import AuthenticatedRequest, StudioRequest
from studio.ratelimit import rate_limit_hit, rate_parse

from .archives import archive_entries, zip_response
from .batches import (
    VARIATIONS_MAX,
    BatchRefused,
    batch_create,
    batch_get_for_viewer,
    batch_plan,
    batch_price,
    sweepable_fields,
)
from .catalog import CatalogField, CatalogModel, catalog
from .forms import (
    REMEMBERED_PREFIX,
    CarriedValues,
    GenerationForm,
    ReferenceField,
    generation_form_class,
    upload_inspect,
    values_carry_by_role,
)
from .gallery import (
    card_body,
    filter_controls,
    gallery_grid,
    gallery_options,
    gallery_query_parse,
    generation_url,
)
from .models import Generation, Reference
from .neighbours import gallery_view_remember, generation_neighbours
from .notices import notices_for, notices_mark_seen
from .pricing import PriceError, audio_from_upload, price_quote
from .selectors import (
    catalog_models_available,
    generation_card_for_viewer,
    generation_detail_for_viewer,
    generation_get_for_viewer,
    generation_list_for_gallery,
    generation_reuse_for_viewer,
    providers_paused,
    reference_get_for_owner,
    references_recent,
    teams_for_viewer,
)
from .services import (
    IllegalTransition,
    ModelUnavailable,
    favourite_set,
    favourites_set,
    generation_cancel,
    generation_create,
    generation_retry,
    generations_delete,
    generations_restore,
    reference_store,
    references_store,
)
from .serving import stored_file_response
from .sharing import generation_can_manage, generations_share_to_team
from .signed_links import signed_file_resolve
from .wire import provider_request_preview

# The roles a price depends on (see pricing.price_quote).
PRICED_ROLES = ("resolution", "duration", "audio_track", "reference_audio")


def _model_from(request: AuthenticatedRequest) -> CatalogModel:
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


def _pay_from(request: AuthenticatedRequest) -> dict[str, Any]:
    """The wallets the person can pay from, and the one chosen (a team's slug, or "" for theirs).

    The choice comes from the form, else from the default the person set on their account page
    (if they are still in that team), else their own credits: never silently the team used last.
    """
    memberships = teams_for_user(user=request.user)
    own = wallet_for_user(user=request.user)
    choices: list[dict[str, Any]] = [{"slug": "", "label": "Your credits", "balance": own.balance}]
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
    batch = _batch_asked(model, form, values) if form.is_bound else None
    live: dict[str, Any] = {
        "quote": quote,
        "batch": batch,
        "preview": preview,
        "pay": pay,
        "audio_from_upload": audio_from_upload(model=model, values=values),
    }
    if pay and pay["chosen"] and quote is not None:
        price = batch["total"] if batch and batch.get("total") is not None else quote.credits
        live["shortfall"] = max(price - pay["chosen"]["balance"], 0)
        if live["shortfall"]:
            live["ask_for_credits"] = _who_grants(pay["chosen"].get("team"))
    return live


def _batch_controls(data) -> tuple[int, bool, list[str], dict[str, str]]:
    """The batch controls as posted: variations, one per prompt line, the swept fields; and
    errors by control."""
    errors: dict[str, str] = {}
    raw = str(data.get("variations") or "1").strip()
    try:
        variations = int(raw)
    except ValueError:
        variations = 1
        errors["variations"] = f"Choose a whole number from 1 to {VARIATIONS_MAX}."
    if not 1 <= variations <= VARIATIONS_MAX and "variations" not in errors:
        errors["variations"] = f"Choose a whole number from 1 to {VARIATIONS_MAX}."
        variations = max(1, min(variations, VARIATIONS_MAX))
    prompt_lines = data.get("prompt_lines") in ("on", "true", "1")
    sweep = [str(data.get("sweep") or ""), str(data.get("sweep_2") or "")]
    return variations, prompt_lines, [name for name in sweep if name], errors


def _batch_asked(
    model: CatalogModel, form: GenerationForm, values: dict[str, Any]
) -> dict[str, Any] | None:
    """What the batch controls make of the form right now: its size and total price (None for
    one video), or the error beside the control."""
    variations, prompt_lines, sweep, errors = _batch_controls(form.data)
    if errors:
        return {"errors": errors, "size": None, "total": None}
    try:
        plan = batch_plan(
            model=model,
            values=values,
            variations=variations,
            prompt_lines=prompt_lines,
            sweep=sweep,
        )
    except BatchRefused as error:
        return {"errors": {error.field or "variations": str(error)}, "size": None, "total": None}
    if plan.size == 1:
        return None
    try:
        total = batch_price(model=model, plan=plan, files={})
    except PriceError:
        total = None
    return {"errors": {}, "size": plan.size, "total": total, "plan": plan}


def _who_grants(team: Team | None) -> str:
    """Whom to ask for credits for this wallet, in words."""
    if team is None:
        return "Ask an admin of the studio for credits."
    names = list(
        team.memberships.filter(role__in=["owner", "admin"])
        .order_by("role", "user__username")
        .values_list("user__username", flat=True)[:5]
    )
    who = f" ({', '.join(names)})" if names else ""
    return f"Ask the owners or admins of team {team.name}{who} for credits."


# Fields every model shares come in the same order on the create page, whatever the order of
# the provider's document (fields without a shared role follow, in the catalog's order).
_SHOWN_ORDER = {
    role: position
    for position, role in enumerate(
        (
            "reference_image",
            "prompt",
            "negative_prompt",
            "reference_audio",
            "resolution",
            "duration",
            "prompt_expansion",
            "multi_shot",
            "audio_track",
            "watermark",
            "seed",
        )
    )
}


def _create_context(
    request: AuthenticatedRequest, model: CatalogModel, form: GenerationForm, **extra
):
    shown = sorted(model.fields, key=lambda spec: _SHOWN_ORDER.get(spec.role or "", 99))
    rows = [_field_row(form=form, spec=spec, owner=request.user) for spec in shown]
    data = form.data if form.is_bound else {}
    extra.setdefault(
        "batch_controls",
        {
            "variations": data.get("variations") or "1",
            "prompt_lines": data.get("prompt_lines") in ("on", "true", "1"),
            "sweep": data.get("sweep") or "",
            "sweep_2": data.get("sweep_2") or "",
            "sweepable": sweepable_fields(model),
            "max": VARIATIONS_MAX,
        },
    )
    carried: CarriedValues | None = extra.pop("carried", None)
    if carried is not None:
        for row in rows:
            row["switch_note"] = carried.notes.get(row["spec"].name, "")
        extra["remembered"] = carried.remembered
    elif form.is_bound:
        # Keep what earlier switches remember through a submit that comes back with errors.
        extra["remembered"] = {
            name: value for name, value in form.data.items() if name.startswith(REMEMBERED_PREFIX)
        }
    return {
        "marked_rows": [row for row in rows if row.get("errors")],
        "models": list(catalog_models_available().values()),
        "paused_providers": providers_paused(),
        "model": model,
        "form": form,
        "rows": rows,
        **_live(model, form, _pay_from(request)),
        **extra,
    }


def _switched_form(
    request: AuthenticatedRequest, *, source: CatalogModel, target: CatalogModel
) -> tuple[GenerationForm, CarriedValues]:
    """The target model's form, filled by role from what the source model's form holds, with
    what the switch changed (notes by field) and what it remembers for switching back.

    Uploads sent with it (the page without JavaScript) are validated and stored, so they carry
    across as references like everything else."""
    data = request.POST.copy()
    if request.FILES:
        source_form = generation_form_class(source)(data, request.FILES, owner=request.user)
        source_form.is_valid()
        stored = references_store(owner=request.user, uploads=source_form.valid_uploads())
        for name, reference in stored.items():
            data[name] = str(reference.id)
    carried = values_carry_by_role(source=source, target=target, data=data)
    return generation_form_class(target)(owner=request.user, initial=carried.initial), carried


@require_http_methods(["GET", "POST"])
def create(request: AuthenticatedRequest) -> HttpResponse:
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
            form, carried = _switched_form(request, source=source, target=model)
            if source.key != model.key:
                notice = f"Switched to {model.name}; what you entered came along where it fits."
            return render(
                request,
                "generations/create.html",
                _create_context(request, model, form, notice=notice, carried=carried),
            )
        upload_wait = _uploads_over_limit(request, len(request.FILES)) if request.FILES else None
        form = form_class(
            request.POST, None if upload_wait is not None else request.FILES, owner=request.user
        )
        valid = form.is_valid()
        if upload_wait is not None:
            for name in request.FILES:
                if name in form.fields:
                    form.errors[name] = form.error_class([_upload_wait_message(upload_wait)])
            valid = False
        # Keep every valid upload, also when another field is wrong, so nothing is chosen twice.
        form.references.update(references_store(owner=request.user, uploads=form.valid_uploads()))
        pay = _pay_from(request)
        if pay["chosen"] is None:
            form.add_error(None, "You are not in that team any more; choose where to pay from.")
            valid = False
        status = 429 if upload_wait is not None else 200
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
        batch_asked = _batch_asked(model, form, form.values()) if valid else None
        if batch_asked and batch_asked["errors"]:
            valid = False
        if valid and batch_asked:
            team = pay["chosen"].get("team")
            try:
                batch = batch_create(
                    user=request.user,
                    model=model,
                    plan=batch_asked["plan"],
                    references=dict(form.references),
                    team=team,
                )
            except (ChargeRefused, ModelUnavailable) as error:
                form.add_error(None, str(error))
            else:
                url = reverse("generations:batch", args=[batch.id])
                if request.htmx:
                    return HttpResponseClientRedirect(url)
                return HttpResponseRedirect(url, status=303)
            valid = False
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
                url = reverse("generations:detail", args=[generation.id])
                if request.htmx:
                    return HttpResponseClientRedirect(url)
                return HttpResponseRedirect(url, status=303)
        return render(
            request, "generations/create.html", _create_context(request, model, form), status=status
        )
    elif request.GET.get("from"):
        # "Use again" / "use this seed": only a generation the viewer may see (else 404).
        reuse = generation_reuse_for_viewer(
            viewer=request.user, id=request.GET["from"], keep_seed=request.GET.get("seed") == "keep"
        )
        model = reuse.model
        form = generation_form_class(model)(owner=request.user, initial=reuse.values)
        form.references.update(reuse.references)
        context = _create_context(request, model, form)
        for row in context["rows"]:
            if row["spec"].name in reuse.field_errors:
                row["errors"] = [reuse.field_errors[row["spec"].name]]
        return render(request, "generations/create.html", context)
    else:
        form = form_class(owner=request.user)
    return render(request, "generations/create.html", _create_context(request, model, form))


@require_POST
def create_form(request: AuthenticatedRequest) -> HttpResponse:
    """The form of the model just picked (htmx swaps it in), carrying values across by role."""
    model = _model_from(request)
    source = catalog().get(request.POST.get("current_model", "")) or model
    form, carried = _switched_form(request, source=source, target=model)
    return render(
        request,
        "generations/create.html#model-form",
        _create_context(request, model, form, carried=carried),
    )


@require_POST
def create_preview(request: AuthenticatedRequest) -> HttpResponse:
    """The live price and "API request" panel for the form as it stands (htmx, debounced)."""
    model = _model_from(request)
    form = generation_form_class(model)(request.POST, owner=request.user)
    form.is_valid()
    context = {"model": model, "form": form, "oob": True, **_live(model, form, _pay_from(request))}
    response = render(request, "generations/create.html#live", context)
    response["Cache-Control"] = "no-store"
    return response


@require_POST
def reference_upload(request: AuthenticatedRequest) -> HttpResponse:
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
    wait = _uploads_over_limit(request) if upload is not None else None
    if upload is None:
        errors, status = [str(ReferenceField.default_error_messages["required"])], 400
    elif wait is not None:
        errors, status = [_upload_wait_message(wait)], 429
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


def _uploads_over_limit(request: AuthenticatedRequest, count: int = 1) -> float | None:
    """Count `count` uploads for the person (STUDIO_UPLOAD_RATE); seconds to wait when over."""
    rate = rate_parse(settings.STUDIO_UPLOAD_RATE)
    wait = None
    for _ in range(count):
        wait = rate_limit_hit(key=f"upload:{request.user.pk}", rate=rate) or wait
    return wait


def _upload_wait_message(wait: float) -> str:
    return (
        f"You are uploading files very quickly; wait {int(wait + 0.999)} s and choose the file "
        "again."
    )


def _next_url(request: AuthenticatedRequest, fallback: str) -> str:
    """Where to go back to after a form: a local path sent with it, or `fallback`."""
    target = request.POST.get("next") or request.GET.get("next") or ""
    if target.startswith("/") and url_has_allowed_host_and_scheme(
        target, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return target
    return fallback


def gallery_context(
    request: AuthenticatedRequest, *, base_url: str, team: Team | None = None
) -> dict[str, Any]:
    """Parse the query, read one page, and build its grid: shared by every gallery."""
    options = gallery_options(teams=teams_for_viewer(viewer=request.user))
    query = gallery_query_parse(request.GET, options=options)
    filters = query.filters
    page = generation_list_for_gallery(
        viewer=request.user,
        filters=filters,
        after=query.after,
        team=team,
        limit=settings.STUDIO_GALLERY_PAGE_SIZE,
    )
    gallery_view_remember(request, base_url=base_url, filters=filters, team=team)
    next_url = ""
    if page.next_cursor is not None:
        next_url = f"{base_url}?{filters.query_string(after=page.next_cursor.encode())}"
    return {
        "grid": gallery_grid(viewer=request.user, entries=page.entries),
        "filters": filters,
        "options": options,
        "controls": filter_controls(options, filters),
        "problems": query.problems,
        "next_url": next_url,
        "canonical_url": f"{base_url}?{filters.query_string()}" if filters.params() else base_url,
        "first_page": query.after is None,
        "gallery_url": base_url,
        "here": request.get_full_path(),
    }


def gallery_response(
    request: StudioRequest, *, template: str, context: dict[str, Any]
) -> HttpResponse:
    """The whole page, or for htmx the grid (filters changed) or the next page (scrolling)."""
    push = ""
    if request.htmx and not request.htmx.history_restore_request:
        if request.htmx.target == "gallery-next":
            template += "#gallery-page"
        elif request.htmx.target == "gallery-results":
            template += "#gallery-results"
            push = context["canonical_url"]
    response = render(request, template, context)
    if push:
        # The address bar gets the filters in their short, shareable form (not every field).
        response["HX-Push-Url"] = push
    patch_vary_headers(response, ["HX-Request"])
    return response


@require_GET
def gallery(request: AuthenticatedRequest) -> HttpResponse:
    base_url = reverse("generations:gallery")
    context = gallery_context(request, base_url=base_url)
    if not request.htmx:
        # The undo notice of a deletion shows once, on the next full page.
        context["undo"] = request.session.pop(UNDO_SESSION_KEY, None)
    return gallery_response(request, template="generations/gallery.html", context=context)


BULK_ACTIONS = ("favourite", "unfavourite", "delete", "share", "download", "compare")


@require_POST
def gallery_bulk(request: AuthenticatedRequest) -> HttpResponseBase:
    """Act on the selected cards at once: favourite, unfavourite, delete, share to a team,
    download them as one zip, or compare them side by side."""
    back = _next_url(request, reverse("generations:gallery"))
    ids = request.POST.getlist("ids")
    action = request.POST.get("action", "")
    if action not in BULK_ACTIONS:
        messages.error(request, "Choose what to do with the selected videos.")
        return redirect(back)
    if not ids:
        messages.error(request, "Select at least one video first.")
        return redirect(back)
    if action == "compare":
        from .compare import COMPARED_MAX, COMPARED_MIN

        if not COMPARED_MIN <= len(ids) <= COMPARED_MAX:
            messages.error(
                request, f"Select {COMPARED_MIN} to {COMPARED_MAX} videos to compare them."
            )
            return redirect(back)
        query = urlencode({"ids": ",".join(ids)}, safe=",")
        return redirect(f"{reverse('generations:compare')}?{query}")
    if action == "download":
        entries = archive_entries(viewer=request.user, ids=ids)
        if not entries:
            messages.error(request, "None of the selected videos is ready to download.")
            return redirect(back)
        return zip_response(entries)
    if action in ("favourite", "unfavourite"):
        count = favourites_set(viewer=request.user, ids=ids, on=action == "favourite")
        verb = "Added to" if action == "favourite" else "Removed from"
        messages.success(request, f"{verb} your favourites: {count} video{pluralize(count)}.")
    elif action == "delete":
        result = generations_delete(viewer=request.user, ids=ids)
        _remember_undo(request, result.done)
        if result.skipped:
            messages.info(
                request,
                f"{result.skipped} could not be deleted (not yours, or not finished yet).",
            )
    else:
        team = next(
            (
                t
                for t in teams_for_viewer(viewer=request.user)
                if t.slug == request.POST.get("team")
            ),
            None,
        )
        if team is None:
            messages.error(request, "Choose one of your teams to share with.")
            return redirect(back)
        shared = generations_share_to_team(ids=ids, team=team, by=request.user)
        count = len(shared)
        messages.success(request, f"Shared with {team.name}: {count} video{pluralize(count)}.")
        if len(set(ids)) > count:
            messages.info(request, f"{len(set(ids)) - count} skipped (only your own videos).")
    return redirect(back)


@require_POST
def gallery_restore(request: AuthenticatedRequest) -> HttpResponse:
    """Undo a deletion."""
    result = generations_restore(viewer=request.user, ids=request.POST.getlist("ids"))
    if result.done:
        messages.success(
            request, f"Restored {len(result.done)} video{pluralize(len(result.done))}."
        )
    else:
        messages.error(request, "Those videos can no longer be restored.")
    return redirect(_next_url(request, reverse("generations:gallery")))


UNDO_SESSION_KEY = "gallery_undo"


def _remember_undo(request: AuthenticatedRequest, ids: list) -> None:
    if ids:
        request.session[UNDO_SESSION_KEY] = [str(key) for key in ids]


@require_GET
def card(request: AuthenticatedRequest, id: str) -> HttpResponse:
    """The body of one gallery card; unfinished cards fetch it until their generation ends."""
    generation = generation_card_for_viewer(viewer=request.user, id=id)
    return HttpResponse(card_body(generation))


@require_GET
def detail(request: AuthenticatedRequest, id: str) -> HttpResponse:
    info = generation_detail_for_viewer(viewer=request.user, id=id)
    context = {
        "info": info,
        "generation": info.generation,
        "model": info.model,
        "events": info.events,
        "favourite": info.favourite,
        "favourite_url": generation_url("generations:favourite", info.generation.id),
        "form_id": "detail-favourite",
        "here": request.get_full_path(),
        "share_teams": teams_for_viewer(viewer=request.user) if info.is_owner else [],
        "share_url": (
            request.build_absolute_uri(
                reverse("generations:shared", args=[info.generation.share_token])
            )
            if info.is_owner and info.generation.share_token
            else ""
        ),
    }
    template = "generations/detail.html"
    if request.htmx and not request.htmx.history_restore_request:
        template += "#generation-update"
    else:
        context["neighbours"] = generation_neighbours(
            request, viewer=request.user, generation=info.generation
        )
    if info.is_owner and info.generation.is_final:
        notices_mark_seen(request, [info.generation.id])  # seen here: no notice elsewhere
    response = render(request, template, context)
    patch_vary_headers(response, ["HX-Request"])
    return response


@require_GET
def notices(request: AuthenticatedRequest) -> HttpResponse:
    """The notices region's content: generations that ended while their maker was elsewhere
    (asked for by the region itself while something of theirs is unfinished)."""
    context = {
        "notices": notices_for(request, exclude=request.GET.get("exclude", "")),
        "oob": True,
    }
    response = render(request, "generations/notices.html#notices-body", context)
    response["Cache-Control"] = "no-store"
    return response


@require_POST
def notices_dismiss(request: AuthenticatedRequest) -> HttpResponse:
    """Dismiss a toast (the page without JavaScript): that generation is seen."""
    notices_mark_seen(request, request.POST.getlist("id"))
    return HttpResponseRedirect(_next_url(request, reverse("generations:gallery")), status=303)


@require_POST
def cancel(request: AuthenticatedRequest, id: str) -> HttpResponse:
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


@require_POST
def favourite(request: AuthenticatedRequest, id: str) -> HttpResponse:
    """Mark or unmark a generation as one of the viewer's favourites (`on` = 1 or 0)."""
    generation = generation_get_for_viewer(viewer=request.user, id=id)
    on = request.POST.get("on", "1") == "1"
    favourite_set(viewer=request.user, generation=generation, on=on)
    if request.htmx:
        form_id = request.POST.get("form_id", "")
        context = {
            "favourite": on,
            "favourite_url": generation_url("generations:favourite", generation.id),
            "form_id": form_id if form_id in FAVOURITE_FORMS else "",
        }
        return render(request, "generations/gallery.html#favourite-button", context)
    return redirect(_next_url(request, reverse("generations:detail", args=[generation.id])))


# The forms a favourite button can belong to (the gallery's bulk form, the generation page's).
FAVOURITE_FORMS = ("bulk-form", "detail-favourite")


@require_POST
def delete(request: AuthenticatedRequest, id: str) -> HttpResponse:
    """Delete one generation (soft: the gallery offers an undo)."""
    generation = generation_get_for_viewer(viewer=request.user, id=id)
    if not generation_can_manage(viewer=request.user, generation=generation):
        raise Http404("No such generation.")
    result = generations_delete(viewer=request.user, ids=[generation.id])
    if not result.done:
        messages.error(request, "It is still being made; cancel it or wait for it to end.")
        return redirect("generations:detail", id=generation.id)
    _remember_undo(request, result.done)
    url = reverse("generations:gallery")
    if request.htmx:
        return HttpResponseClientRedirect(url)
    return redirect(url)


@require_POST
def retry(request: AuthenticatedRequest, id: str) -> HttpResponse:
    """Try a failed generation again as a new one (charged), linked to this one."""
    generation = generation_get_for_viewer(viewer=request.user, id=id)
    if generation.owner_id != request.user.pk:
        raise Http404("No such generation.")
    try:
        new = generation_retry(generation=generation, by=request.user)
    except IllegalTransition:
        messages.error(request, "Only a generation that ended without a video can be tried again.")
    except ChargeRefused as error:
        messages.error(request, str(error))
    except KeyError:
        messages.error(request, "Its model is no longer offered; use again with another model.")
    else:
        messages.success(request, "Trying again; this is the new generation.")
        return redirect("generations:detail", id=new.id)
    return redirect("generations:detail", id=generation.id)


@require_safe
def video(request: AuthenticatedRequest, id: str) -> HttpResponseBase:
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


@require_safe
def poster(request: AuthenticatedRequest, id: str) -> HttpResponseBase:
    generation = generation_get_for_viewer(viewer=request.user, id=id)
    if not generation.poster:
        raise Http404("No poster yet.")
    return stored_file_response(
        request, generation.poster.name, content_type="image/jpeg", cache_seconds=3600
    )


@require_safe
def generation_reference(request: AuthenticatedRequest, id: str, kind: str) -> HttpResponseBase:
    """A generation's reference image or audio, for whoever may see the generation."""
    generation = generation_get_for_viewer(viewer=request.user, id=id)
    reference = generation.reference if kind == "image" else generation.audio_reference
    if reference is None:
        raise Http404("No such file.")
    return stored_file_response(
        request, reference.file.name, content_type=reference.content_type, cache_seconds=3600
    )


@require_GET
def reference_file(request: AuthenticatedRequest, id: str) -> HttpResponseBase:
    reference = reference_get_for_owner(owner=request.user, id=id)
    if reference is None:
        raise Http404("No such file.")
    return stored_file_response(
        request, reference.file.name, content_type=reference.content_type, cache_seconds=3600
    )


@login_not_required
@require_http_methods(["GET", "HEAD"])
def signed_file(request: StudioRequest, kind: str, token: str, filename: str) -> HttpResponseBase:
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
def api_reference(request: AuthenticatedRequest) -> HttpResponse:
    """A readable reference of the API, built from the same catalog as the OpenAPI document."""
    from django.conf import settings

    from .openapi import model_description

    context = {
        "models": [model_description(m) for m in catalog().values()],
        "base_url": settings.STUDIO_PUBLIC_URL,
    }
    return render(request, "generations/api_reference.html", context)


@require_POST
def webhook_send_again(request: AuthenticatedRequest, id: str) -> HttpResponse:
    """The account page's "Send again" for one of the person's webhook deliveries."""
    from .api_webhooks import webhook_send_again as send_again
    from .models import WebhookDelivery

    delivery = get_object_or_404(WebhookDelivery, pk=id, webhook__generation__owner=request.user)
    send_again(delivery=delivery)
    messages.success(request, f"{delivery.event} ({delivery.id}) is being sent again.")
    return redirect("account")


@require_GET
def compare(request: AuthenticatedRequest) -> HttpResponse:
    """Two to four videos side by side, played together, with the settings that differ."""
    from .compare import CompareRefused, compare_for_viewer, compare_ids

    try:
        ids = compare_ids(request.GET.getlist("ids"))
    except CompareRefused as error:
        return render(request, "generations/compare.html", {"refused": str(error)}, status=400)
    generations, rows = compare_for_viewer(viewer=request.user, ids=ids)
    context = {"generations": generations, "rows": rows, "columns": len(generations)}
    return render(request, "generations/compare.html", context)


def _batch_layout(batch, members: list[Generation]) -> dict[str, Any]:
    """The members on the batch's axes: a table for two axes, else a grid with each member's
    place in words."""
    axes = batch.axes or []
    by_place: dict[tuple, Generation] = {}
    for member in members:
        place = member.batch_place or {}
        by_place[tuple(place.get(axis["name"], 0) for axis in axes)] = member

    def words(member: Generation) -> str:
        place = member.batch_place or {}
        parts = []
        for axis in axes:
            at = place.get(axis["name"], 0)
            value = axis["values"][at] if at < len(axis["values"]) else at
            if axis["name"] == "prompt":
                value = f"line {at + 1}"
            parts.append(f"{axis['label']}: {value}")
        return " · ".join(parts)

    cards: list[dict[str, Any]] = [
        {"generation": m, "body": card_body(m, quiet=True), "place": words(m)} for m in members
    ]
    layout: dict[str, Any] = {"cards": cards, "axes": axes, "table": None}
    if len(axes) == 2:
        lookup = {card["generation"].pk: card for card in cards}
        rows = []
        for r, row_value in enumerate(axes[0]["values"]):
            cells = []
            for c in range(len(axes[1]["values"])):
                found = by_place.get((r, c))
                cells.append(lookup.get(found.pk) if found else None)
            rows.append({"value": row_value, "cells": cells})
        layout["table"] = {"columns": axes[1]["values"], "rows": rows}
    return layout


@require_GET
def batch_page(request: AuthenticatedRequest, id: str) -> HttpResponse:
    """A batch's members on its axes, live (one poll for the whole page while any is
    unfinished), what was spent and refunded, and actions on all of them."""
    from django.db.models import Sum

    from accounts.models import LedgerEntry

    batch, members = batch_get_for_viewer(viewer=request.user, id=id)
    sums = dict(
        LedgerEntry.objects.filter(generation__batch=batch)
        .values_list("kind")
        .annotate(total=Sum("amount"))
        .values_list("kind", "total")
    )
    unfinished = [m for m in members if not m.is_final]
    context = {
        "batch": batch,
        "members": members,
        "layout": _batch_layout(batch, members),
        "spent": -(sums.get("charge") or 0),
        "refunded": sums.get("refund") or 0,
        "unfinished": len(unfinished),
        "cancellable": sum(1 for m in members if m.state == Generation.State.PENDING),
        "is_owner": batch.owner_id == request.user.pk,
        "share_teams": teams_for_viewer(viewer=request.user),
        "model": catalog().get(batch.model_key),
        "here": request.get_full_path(),
    }
    template = "generations/batch.html"
    if request.htmx and request.GET.get("part") == "members":
        template += "#batch-members"
    response = render(request, template, context)
    patch_vary_headers(response, ["HX-Request"])
    return response


@require_POST
def batch_cancel(request: AuthenticatedRequest, id: str) -> HttpResponse:
    """Cancel the batch's members not yet sent to the provider (each refunded on its own)."""
    batch, members = batch_get_for_viewer(viewer=request.user, id=id)
    cancelled = 0
    for member in members:
        if member.owner_id == request.user.pk and member.state == Generation.State.PENDING:
            try:
                generation_cancel(generation=member, by=request.user)
                cancelled += 1
            except IllegalTransition:
                pass  # sent meanwhile: it runs to its end
    messages.success(request, f"Cancelled {cancelled} not yet sent; their credits came back.")
    return redirect("generations:batch", id=batch.id)
