"""`POST /v1/batches`: the body of a single request plus `variations`, `prompts` (a list),
`images` (a list of URLs) and `sweep` (field name → list of values), made as the product of its
axes (at most BATCH_MAX), validated whole before anything is fetched or charged, then charged
in one transaction, all or nothing. `GET /v1/batches/<id>` shows every task."""

from __future__ import annotations

import copy
import itertools
import math
from typing import Any

from accounts.ledger import (
    InsufficientCredits,
    MonthlyCapExceeded,
    wallet_for_team,
    wallet_for_user,
)
from accounts.models import ApiToken, User

from .api_requests import ApiError, api_form_input, api_location, dropped_values_refused
from .api_services import (
    _fetch,
    _fetches_count_as_uploads,
    _first_error,
    _insufficient,
    _webhook_asked,
    model_and_team,
)
from .batches import BATCH_MAX, VARIATIONS_MAX, batch_members_create
from .catalog import CatalogModel
from .fetcher import GuardedFetcher
from .forms import generation_form_class
from .models import ApiWebhook, Batch, Generation
from .pricing import PriceError, price_quote
from .services import references_store

BATCH_KEYS = ("variations", "prompts", "images", "sweep")


def _put(body: dict, model: CatalogModel, name: str, value: Any) -> None:
    """Set a field in the body where the API expects it (top level or metadata section)."""
    location = api_location(model.field(name))
    if location == "top":
        body[name] = value
    else:
        body.setdefault("metadata", {}).setdefault(location, {})[name] = value


def _strings(value: Any, param: str) -> list[str] | None:
    if value is None:
        return None
    if (
        not isinstance(value, list)
        or not value
        or not all(isinstance(item, str) and item.strip() for item in value)
    ):
        raise ApiError(400, f"{param} is a non-empty list of non-empty strings.", param=param)
    return [item for item in value]


def _axes(body: dict, model: CatalogModel) -> tuple[int, list[str] | None, list[str] | None, dict]:
    variations = body.get("variations", 1)
    if not isinstance(variations, int) or isinstance(variations, bool):
        raise ApiError(
            400, f"variations is a whole number from 1 to {VARIATIONS_MAX}.", param="variations"
        )
    if not 1 <= variations <= VARIATIONS_MAX:
        raise ApiError(
            400, f"variations is a whole number from 1 to {VARIATIONS_MAX}.", param="variations"
        )
    prompts = _strings(body.get("prompts"), "prompts")
    images = _strings(body.get("images"), "images")
    if images is not None and model.field_for_role("reference_image") is None:
        raise ApiError(400, f"{model.key} takes no reference image.", param="images")
    sweep = body.get("sweep") or {}
    if not isinstance(sweep, dict) or len(sweep) > 2:
        raise ApiError(400, "sweep maps one or two field names to lists of values.", param="sweep")
    names = {spec.name for spec in model.fields if not spec.is_file}
    for name, values in sweep.items():
        if name not in names:
            raise ApiError(400, f"sweep: {name!r} is not a field of {model.key}.", param="sweep")
        if not isinstance(values, list) or not values or len(values) > BATCH_MAX:
            raise ApiError(400, f"sweep: {name} needs a non-empty list of values.", param="sweep")
    size = (
        variations
        * len(prompts or [None])
        * len(images or [None])
        * math.prod(len(values) for values in sweep.values())
    )
    if size > BATCH_MAX:
        raise ApiError(
            400,
            f"This batch would make {size} videos; a batch makes at most {BATCH_MAX}.",
            param="variations",
            code="batch_too_large",
        )
    return variations, prompts, images, sweep


def api_batch_submit(
    *,
    user: User,
    body: Any,
    fetcher: GuardedFetcher | None = None,
    token: ApiToken | None = None,
) -> tuple[Batch, list[Generation], int]:
    """Validate the whole batch, fetch its pictures once each, charge all or nothing."""
    if not isinstance(body, dict):
        raise ApiError(400, "The request body must be a JSON object.")
    single = {key: value for key, value in body.items() if key not in BATCH_KEYS}
    model, team = model_and_team(user=user, body=single)
    variations, prompts, images, sweep = _axes(body, model)
    webhook = _webhook_asked(single, fetcher)
    prompt_spec = model.field_for_role("prompt")
    image_spec = model.field_for_role("reference_image")
    seed_spec = model.field_for_role("seed")
    axes: list[dict[str, Any]] = []
    if prompts:
        axes.append({"name": "prompt", "label": "Prompt", "values": prompts})
    if images:
        axes.append(
            {"name": "image", "label": "Picture", "values": list(range(1, len(images) + 1))}
        )
    for name, values in sweep.items():
        axes.append({"name": name, "label": model.field(name).shown_label, "values": values})
    if variations > 1:
        axes.append(
            {"name": "variation", "label": "Variation", "values": list(range(1, variations + 1))}
        )
    members: list[tuple[dict, dict]] = []
    grid = itertools.product(
        range(len(prompts or [None])),
        range(len(images or [None])),
        *[range(len(values)) for values in sweep.values()],
        range(variations),
    )
    for prompt_at, image_at, *rest in grid:
        *swept, variation = rest
        member = copy.deepcopy(single)
        place: dict[str, Any] = {}
        if prompts and prompt_spec is not None:
            _put(member, model, prompt_spec.name, prompts[prompt_at])
            place["prompt"] = prompt_at
        if images and image_spec is not None:
            _put(member, model, image_spec.name, images[image_at])
            place["image"] = image_at
        for (name, values), at in zip(sweep.items(), swept, strict=True):
            _put(member, model, name, values[at])
            place[name] = at
        if variations > 1:
            place["variation"] = variation
            if seed_spec is not None:
                form_input = api_form_input(model=model, body=member)
                base = form_input.given.get(seed_spec.name)
                if isinstance(base, int) and not isinstance(base, bool):
                    _put(member, model, seed_spec.name, base + variation)
        members.append((member, place))

    # Everything told without the files first: each member's values, the total price.
    inputs = []
    total = 0
    for member, _ in members:
        form_input = api_form_input(model=model, body=member)
        early = generation_form_class(model)(form_input.data, owner=user)
        early.is_valid()
        dropped_values_refused(
            model=model, given=form_input.given, values=getattr(early, "cleaned_data", {})
        )
        for name, errors in early.errors.items():
            if name != "__all__" and model.field(name).is_file:
                continue  # its file is fetched later
            if name == "__all__":
                raise ApiError(400, str(errors[0]), code="invalid_request")
            raise ApiError(400, f"{name}: {errors[0]}", param=name, code="invalid_value")
        values = early.loose_values()
        for spec in model.fields:
            if spec.is_file:
                values[spec.name] = spec.name in form_input.urls
        try:
            total += price_quote(model=model, values=values).credits
        except PriceError:
            raise _first_error(early) from None
        inputs.append(form_input)
    wallet = wallet_for_team(team=team) if team else wallet_for_user(user=user)
    if wallet.balance < total:
        raise _insufficient(total, f"team {team.name}" if team else "your wallet", wallet.balance)
    urls = list(dict.fromkeys(url for form_input in inputs for url in form_input.urls.values()))
    _fetches_count_as_uploads(user=user, count=len(urls))

    fetcher = fetcher or GuardedFetcher()
    stored: dict[str, Any] = {}
    for form_input in inputs:
        for name, url in form_input.urls.items():
            if url in stored:
                continue
            upload = _fetch(url, model.field(name), fetcher)
            try:
                form = generation_form_class(model)({**form_input.data}, {name: upload}, owner=user)
                form.is_valid()
                if name in form.errors:
                    raise ApiError(
                        400, f"{name}: {form.errors[name][0]}", param=name, code="invalid_value"
                    )
                stored[url] = references_store(owner=user, uploads=form.valid_uploads())[name]
            finally:
                upload.close()
    plans = []
    for form_input, (_, place) in zip(inputs, members, strict=True):
        data = dict(form_input.data)
        references = {}
        for name, url in form_input.urls.items():
            data[name] = str(stored[url].id)
            references[name] = stored[url]
        form = generation_form_class(model)(data, owner=user)
        if not form.is_valid():
            raise _first_error(form)
        form.references.update(references)
        plans.append((form.values(), dict(form.references), place))

    def with_webhook(generation: Generation) -> None:
        if webhook is not None:
            ApiWebhook.objects.create(
                generation=generation, token=token, url=webhook[0], events=webhook[1]
            )

    try:
        batch, made = batch_members_create(
            user=user,
            model=model,
            axes=axes,
            members=plans,
            total=total,
            team=team,
            each=with_webhook,
        )
    except InsufficientCredits as error:
        raise _insufficient(error.price, error.wallet_label, error.balance) from None
    except MonthlyCapExceeded as error:
        raise ApiError(
            402, str(error), param="team", code="monthly_cap_exceeded", type="insufficient_quota"
        ) from None
    return batch, made, total
