"""Prices in credits, computed from each catalog model's price rule (data, not code)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from .catalog import CatalogModel


class PriceError(ValueError):
    """The values do not name a priced combination (e.g. a duration beyond the last step)."""


@dataclass(frozen=True)
class Quote:
    credits: int
    resolution: str
    duration_step: int
    with_audio: bool
    duration: float = 0.0  # as asked; priced as `duration_step`, the next step up
    audio_from_upload: bool = False  # an uploaded audio file gives the sound, whatever the switch

    @property
    def stepped_up(self) -> bool:
        return self.duration < self.duration_step

    @property
    def variant(self) -> str:
        return f"{self.resolution}-{self.duration_step}s" + ("-audio" if self.with_audio else "")


def audio_from_upload(*, model: CatalogModel, values: dict[str, Any]) -> bool:
    """Whether an uploaded audio file overrides the audio switch (the video then has sound)."""
    upload = model.field_for_role("reference_audio")
    has_upload = upload is not None and bool(values.get(upload.name))
    return has_upload and model.price.uploaded_audio_means_audio


def output_has_audio(*, model: CatalogModel, values: dict[str, Any]) -> bool:
    """Whether the video will carry audio: the audio switch, or an uploaded track that wins."""
    track = model.field_for_role("audio_track")
    upload = model.field_for_role("reference_audio")
    has_upload = upload is not None and bool(values.get(upload.name))
    if has_upload and model.price.uploaded_audio_means_audio:
        return True
    if track is not None:
        return bool(values.get(track.name, track.default))
    return has_upload


def price_quote(*, model: CatalogModel, values: dict[str, Any]) -> Quote:
    """The price of generating with `values`; a duration between steps costs the next step up."""
    resolution_field = model.field_for_role("resolution")
    duration_field = model.field_for_role("duration")
    assert resolution_field is not None and duration_field is not None  # the catalog checks it
    resolution = str(values.get(resolution_field.name) or resolution_field.default).lower()
    raw_duration = values.get(duration_field.name) or duration_field.default
    try:
        duration = float(raw_duration)
    except (TypeError, ValueError):
        raise PriceError(f"{raw_duration!r} is not a duration") from None
    step = next((s for s in model.price.duration_steps if s >= duration), None)
    if step is None:
        raise PriceError(f"{duration:g} s is longer than any priced duration")
    table = model.price.credits.get(resolution)
    if table is None or step not in table:
        raise PriceError(f"no price for {resolution} at {step} s")
    with_audio = output_has_audio(model=model, values=values)
    credits = table[step]["audio" if with_audio else "silent"]
    return Quote(
        credits=credits,
        resolution=resolution,
        duration_step=step,
        with_audio=with_audio,
        duration=duration,
        audio_from_upload=audio_from_upload(model=model, values=values),
    )
