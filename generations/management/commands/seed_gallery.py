"""Fill a gallery with finished generations for demos and benchmarks.

    python manage.py seed_gallery --user USERNAME --count N [--team SLUG]

Every generation gets a real poster and a small real H.264 video. A handful of clips is
rendered once and shared by all seeded generations (the purge of deleted generations keeps a
file while any generation still uses it). Rows are written with bulk_create, so 50,000 take
well under a few minutes. Seeded generations are not charged: they never went to a provider.
"""

from __future__ import annotations

import hashlib
import io
import random
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from fractions import Fraction

import av
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction
from django.utils import timezone
from PIL import Image, ImageDraw

from accounts.models import Membership, Team, User
from generations.catalog import CatalogModel, catalog
from generations.models import Generation, GenerationEvent, Reference
from generations.pricing import price_quote
from generations.wire import provider_request_build

CLIP_SIZE = (320, 180)
CLIP_SECONDS = 2
CLIP_FPS = 12
PALETTES = [
    ((255, 140, 66), (38, 70, 160)),
    ((30, 160, 120), (250, 220, 90)),
    ((200, 50, 90), (40, 40, 60)),
    ((90, 170, 240), (240, 240, 250)),
    ((120, 80, 200), (255, 180, 200)),
    ((60, 60, 60), (230, 120, 40)),
]
BATCH = 2000

SUBJECTS = [
    "a lighthouse",
    "a red fox",
    "an old sailing ship",
    "a city street",
    "a mountain lake",
    "a dancer",
    "a paper lantern",
    "a field of sunflowers",
    "a desert caravan",
    "a koi pond",
    "a steam train",
    "a snow owl",
]
ACTIONS = [
    "slowly turning",
    "swaying in the wind",
    "drifting through fog",
    "glowing at dusk",
    "moving under neon lights",
    "reflected in rippling water",
    "seen from a rising drone",
    "caught in falling snow",
]
STYLES = [
    "cinematic lighting",
    "watercolour style",
    "shot on 35mm film",
    "soft pastel colours",
    "high contrast noir",
    "golden hour",
    "ultra-realistic textures",
]
NEGATIVES = ["", "", "blurry, low quality", "watermark, text", "distorted faces, extra limbs"]


def clip_render(palette: tuple[tuple[int, int, int], tuple[int, int, int]]) -> bytes:
    """A small real MP4 (H.264, yuv420p): a gradient with a circle moving across it."""
    width, height = CLIP_SIZE
    buffer = io.BytesIO()
    with av.open(buffer, mode="w", format="mp4") as container:
        stream = container.add_stream("libx264", rate=CLIP_FPS)
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        stream.codec_context.time_base = Fraction(1, CLIP_FPS)
        stream.options = {"preset": "veryfast", "crf": "30"}
        frames = CLIP_SECONDS * CLIP_FPS
        first, second = palette
        for index in range(frames):
            image = Image.new("RGB", CLIP_SIZE, first)
            draw = ImageDraw.Draw(image)
            for x in range(0, width, 8):
                mix = x / width
                colour = tuple(
                    int(a * (1 - mix) + b * mix) for a, b in zip(first, second, strict=True)
                )
                draw.rectangle((x, 0, x + 8, height), fill=colour)
            cx = int(width * (0.15 + 0.7 * index / max(frames - 1, 1)))
            draw.ellipse(
                (cx - 24, height // 2 - 24, cx + 24, height // 2 + 24), fill=(255, 255, 255)
            )
            frame = av.VideoFrame.from_image(image)
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return buffer.getvalue()


def poster_render(video: bytes) -> bytes:
    with av.open(io.BytesIO(video), mode="r") as container:
        frame = next(container.decode(video=0))
        image = frame.to_image()
    out = io.BytesIO()
    image.save(out, format="JPEG", quality=80)
    return out.getvalue()


def seed_media() -> list[tuple[str, str, int]]:
    """The shared demo clips in storage: (video name, poster name, video bytes), made once."""
    media = []
    for index, palette in enumerate(PALETTES):
        video_name, poster_name = f"seed/clip-{index}.mp4", f"seed/clip-{index}.jpg"
        if not (default_storage.exists(video_name) and default_storage.exists(poster_name)):
            video = clip_render(palette)
            for name in (video_name, poster_name):
                if default_storage.exists(name):
                    default_storage.delete(name)
            video_name = default_storage.save(video_name, ContentFile(video))
            poster_name = default_storage.save(poster_name, ContentFile(poster_render(video)))
        media.append((video_name, poster_name, default_storage.size(video_name)))
    return media


def seed_reference(owner: User) -> Reference:
    """One reference image per owner for seeded generations ("use again" finds it)."""
    image = Image.new("RGB", (640, 360), PALETTES[0][0])
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    data = buffer.getvalue()
    digest = hashlib.sha256(data).hexdigest()
    existing = Reference.objects.filter(owner=owner, kind="image", sha256=digest).first()
    if existing:
        return existing
    reference = Reference(
        owner=owner,
        kind="image",
        sha256=digest,
        content_type="image/png",
        size=len(data),
        width=640,
        height=360,
        original_name="seed-reference.png",
    )
    reference.file.save(f"{digest}.png", ContentFile(data), save=False)
    reference.save()
    return reference


@contextmanager
def _timestamps_as_given() -> Iterator[None]:
    """Let bulk_create keep the created_at/updated_at/at values we spread over past months."""
    fields = [
        Generation._meta.get_field("created_at"),
        Generation._meta.get_field("updated_at"),
        GenerationEvent._meta.get_field("at"),
    ]
    saved = [(field, field.auto_now, field.auto_now_add) for field in fields]
    for field in fields:
        field.auto_now = field.auto_now_add = False
    try:
        yield
    finally:
        for field, auto_now, auto_now_add in saved:
            field.auto_now, field.auto_now_add = auto_now, auto_now_add


def _values(model: CatalogModel, rng: random.Random) -> dict:
    values = dict(model.defaults())
    for spec in model.fields:
        if spec.is_file:
            continue
        if spec.role == "prompt":
            values[spec.name] = (
                f"{rng.choice(SUBJECTS).capitalize()} {rng.choice(ACTIONS)}, {rng.choice(STYLES)}"
            )
        elif spec.role == "negative_prompt":
            values[spec.name] = rng.choice(NEGATIVES)
        elif spec.role in ("resolution", "duration") and spec.options:
            values[spec.name] = rng.choice(spec.option_values)
        elif spec.role == "duration" and spec.min is not None and spec.max is not None:
            values[spec.name] = rng.randint(int(spec.min), int(spec.max))
        elif spec.role == "seed":
            values[spec.name] = rng.randint(int(spec.min or 0), int(spec.max or 2**31 - 1))
        elif spec.type == "boolean" and spec.name not in values:
            values[spec.name] = False
    return values


def seed_gallery(
    *, user: User, count: int, team: Team | None = None, rng: random.Random | None = None
) -> int:
    """Create `count` finished generations for `user` (in `team` when given); returns how many."""
    rng = rng or random.Random()
    media = seed_media()
    reference = seed_reference(user)
    models = list(catalog().values())
    now = timezone.now()
    span = timedelta(days=180).total_seconds()
    made = 0
    with _timestamps_as_given():
        while made < count:
            size = min(BATCH, count - made)
            generations, events = [], []
            # Oldest first, so ids and times grow together like real use.
            offsets = sorted((rng.random() * span for _ in range(size)), reverse=True)
            for offset in offsets:
                model = rng.choice(models)
                values = _values(model, rng)
                image_field = model.required_field("reference_image")
                params = {**values, image_field.name: str(reference.id)}
                quote = price_quote(model=model, values=params)
                body = provider_request_build(
                    model=model,
                    values=params,
                    file_links={image_field.name: "https://studio.invalid/seeded-reference"},
                )
                video_name, poster_name, video_bytes = rng.choice(media)
                created = now - timedelta(seconds=offset)
                finished = created + timedelta(seconds=rng.randint(20, 240))
                duration_field = model.required_field("duration")
                seed_field = model.field_for_role("seed")
                generation = Generation(
                    id=uuid.uuid4(),
                    owner=user,
                    team=team,
                    model_key=model.key,
                    provider=model.provider,
                    state=Generation.State.SUCCEEDED,
                    params=params,
                    request_body=body,
                    prompt=values[model.required_field("prompt").name],
                    negative_prompt=values.get(model.required_field("negative_prompt").name, ""),
                    resolution=quote.resolution,
                    duration=int(values[duration_field.name]),
                    with_audio=quote.with_audio,
                    seed=values.get(seed_field.name) if seed_field else None,
                    reference=reference,
                    cost=quote.credits,
                    provider_task_id=f"seed-{uuid.uuid4().hex[:16]}",
                    provider_status="seeded",
                    progress=100,
                    video=video_name,
                    poster=poster_name,
                    video_bytes=video_bytes,
                    video_duration=float(CLIP_SECONDS),
                    video_width=CLIP_SIZE[0],
                    video_height=CLIP_SIZE[1],
                    video_fps=float(CLIP_FPS),
                    video_has_audio=False,
                    created_at=created,
                    updated_at=finished,
                    submitted_at=created,
                    provider_done_at=finished,
                    finished_at=finished,
                    deadline_at=created + timedelta(minutes=30),
                )
                generations.append(generation)
                events.append(
                    GenerationEvent(
                        generation=generation,
                        at=created,
                        to_state="pending",
                        detail="Seeded for a demo; not charged.",
                    )
                )
                events.append(
                    GenerationEvent(
                        generation=generation,
                        at=finished,
                        from_state="pending",
                        to_state="succeeded",
                        detail="Seeded with a shared demo clip.",
                    )
                )
            with transaction.atomic():
                Generation.objects.bulk_create(generations)
                GenerationEvent.objects.bulk_create(events)
            made += size
    return made


class Command(BaseCommand):
    help = "Create finished generations with real posters and small real videos (demo data)."

    def add_arguments(self, parser) -> None:
        parser.add_argument("--user", required=True, help="username of the owner")
        parser.add_argument("--count", type=int, required=True, help="how many to create")
        parser.add_argument("--team", default="", help="slug of a team the owner belongs to")
        parser.add_argument("--random-seed", type=int, default=None, help="for repeatable data")

    def handle(self, *args, **options) -> None:
        count = options["count"]
        if count < 1:
            raise CommandError("--count must be at least 1.")
        user = User.objects.filter(username=options["user"]).first()
        if user is None:
            raise CommandError(f"There is no user {options['user']!r}.")
        team = None
        if options["team"]:
            team = Team.objects.filter(slug=options["team"]).first()
            if team is None:
                raise CommandError(f"There is no team {options['team']!r}.")
            if not Membership.objects.filter(team=team, user=user).exists():
                raise CommandError(f"{user.username} is not a member of {team.slug}.")
        rng = random.Random(options["random_seed"])
        made = seed_gallery(user=user, count=count, team=team, rng=rng)
        where = f" in team {team.slug}" if team else ""
        self.stdout.write(f"Created {made} finished generations for {user.username}{where}.")
