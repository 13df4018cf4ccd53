"""What the studio knows about each provider's health: a circuit breaker and account problems.

The state lives in the shared cache (the database cache by default, Redis in production), so
the web processes and every worker agree on it.

The breaker, per provider:
- closed: calls go through. Each failure that says the provider is in trouble (a connection
  error, a 5xx or a timeout that outlasted the call's own retries) counts one; any success
  starts the count again; failures further apart than `STUDIO_BREAKER_WINDOW` do not add up.
- open: after `STUDIO_BREAKER_THRESHOLD` failures in a row, for `STUDIO_BREAKER_OPEN_SECONDS`.
  New generations for the provider's models wait `pending` (their deadline keeps running) and
  the create page says so.
- half-open: once that time is over, one submit at a time goes through as a trial. A success
  closes the breaker; a failure opens it again for twice as long (up to
  `STUDIO_BREAKER_MAX_OPEN_SECONDS`).

Counting is read-modify-write on the cache, so two processes failing at the same instant may
count once: a breaker is a heuristic, and losing a count only delays it by one failure.
"""

from __future__ import annotations

import threading
import time
from dataclasses import asdict, dataclass

from django.conf import settings
from django.core.cache import cache

from .base import ProviderError

_KEY = "studio:provider:{provider}:breaker"
_PROBE_KEY = "studio:provider:{provider}:breaker-trial"
_ACCOUNT_KEY = "studio:provider:{provider}:account-problem"
_STATE_TTL = 7 * 24 * 3600
# How often a process that saw only successes looks at the shared state to reset a count
# another process left behind: successes are frequent, cache round-trips are not free.
_SUCCESS_CHECK_SECONDS = 5.0

_local = threading.Lock()
_last_success_check: dict[str, float] = {}
_dirty: set[str] = set()


@dataclass(frozen=True)
class BreakerState:
    provider: str
    failures: int = 0
    last_failure_at: float | None = None
    open_until: float | None = None  # epoch seconds; set while open or half-open
    openings: int = 0  # openings in a row without a success, for the growing pause
    last_error: str = ""

    def is_open(self, now: float | None = None) -> bool:
        """Open: nothing is sent, not even a trial."""
        now = time.time() if now is None else now
        return self.open_until is not None and now < self.open_until

    def is_half_open(self, now: float | None = None) -> bool:
        """The pause is over but no trial has succeeded yet."""
        now = time.time() if now is None else now
        return self.open_until is not None and now >= self.open_until

    @property
    def is_closed(self) -> bool:
        return self.open_until is None

    def seconds_left(self, now: float | None = None) -> float:
        now = time.time() if now is None else now
        return max(0.0, (self.open_until or now) - now)


def breaker_state(*, provider: str) -> BreakerState:
    """The breaker of `provider` as every process sees it."""
    return _state_from(provider, cache.get(_KEY.format(provider=provider)))


def _state_from(provider: str, raw: object) -> BreakerState:
    if not isinstance(raw, dict):
        return BreakerState(provider=provider)
    try:
        return BreakerState(**{**raw, "provider": provider})
    except TypeError:  # a state written by another version of this code
        return BreakerState(provider=provider)


def _save(state: BreakerState) -> None:
    cache.set(_KEY.format(provider=state.provider), asdict(state), _STATE_TTL)


def breaker_allows(*, provider: str) -> bool:
    """Whether a new submit to `provider` may go out now.

    Closed: yes. Open: no. Half-open: yes for one caller at a time (the trial); its outcome,
    recorded with `breaker_record_*`, closes or re-opens the breaker.
    """
    state = breaker_state(provider=provider)
    if state.is_closed:
        return True
    with _local:
        _dirty.add(provider)
    if state.is_open():
        return False
    # The trial slot expires by itself, so a worker that dies during the trial frees it.
    return cache.add(
        _PROBE_KEY.format(provider=provider), "1", settings.STUDIO_BREAKER_TRIAL_SECONDS
    )


def breaker_record_failure(*, provider: str, error: ProviderError) -> BreakerState | None:
    """Count a failed call to `provider`; opens the breaker after a run of them.

    Failures that do not say the provider is in trouble (429, refusals, account problems,
    unreadable answers) are ignored. Returns the new state, or None when ignored.
    """
    if not error.counts_against_provider:
        return None
    with _local:
        _dirty.add(provider)
    now = time.time()
    state = breaker_state(provider=provider)
    failures = state.failures + 1
    if state.last_failure_at is not None and now - state.last_failure_at > (
        settings.STUDIO_BREAKER_WINDOW
    ):
        failures = 1
    open_until, openings = state.open_until, state.openings
    if state.is_half_open(now):
        # The trial failed (or a call that was already under way did): pause again, longer.
        openings += 1
        open_until = now + _pause(openings)
        cache.delete(_PROBE_KEY.format(provider=provider))
    elif state.is_closed and failures >= settings.STUDIO_BREAKER_THRESHOLD:
        openings = 1
        open_until = now + _pause(openings)
    new = BreakerState(
        provider=provider,
        failures=failures,
        last_failure_at=now,
        open_until=open_until,
        openings=openings,
        last_error=error.admin_message[:300],
    )
    _save(new)
    return new


def _pause(openings: int) -> float:
    base = settings.STUDIO_BREAKER_OPEN_SECONDS
    return min(settings.STUDIO_BREAKER_MAX_OPEN_SECONDS, base * 2 ** max(0, openings - 1))


def breaker_record_success(*, provider: str) -> None:
    """A call to `provider` worked: the run of failures is over and the breaker closes.

    Cheap on the common path: the shared state is looked at only when this process saw
    trouble, or every few seconds (to clear a count another process left).
    """
    now = time.monotonic()
    with _local:
        due = (
            provider in _dirty
            or now - _last_success_check.get(provider, -_SUCCESS_CHECK_SECONDS)
            >= _SUCCESS_CHECK_SECONDS
        )
        if not due:
            return
        _dirty.discard(provider)
        _last_success_check[provider] = now
    state = breaker_state(provider=provider)
    if state.failures or not state.is_closed:
        cache.delete(_KEY.format(provider=provider))
        cache.delete(_PROBE_KEY.format(provider=provider))


def breaker_reset(*, provider: str) -> None:
    """Close the breaker by hand (admins, tests)."""
    cache.delete_many([_KEY.format(provider=provider), _PROBE_KEY.format(provider=provider)])
    with _local:
        _dirty.discard(provider)
        _last_success_check.pop(provider, None)


def providers_paused(*, providers: list[str] | tuple[str, ...]) -> list[BreakerState]:
    """The breakers among `providers` that are open or half-open (new work waits)."""
    raw = cache.get_many([_KEY.format(provider=name) for name in providers])
    states = [_state_from(name, raw.get(_KEY.format(provider=name))) for name in providers]
    return [state for state in states if not state.is_closed]


# --- Account problems ---------------------------------------------------------------------


def account_problem_note(*, provider: str, message: str) -> None:
    """Remember the last account problem (bad key, out of credit, forbidden) for the admin."""
    cache.set(
        _ACCOUNT_KEY.format(provider=provider),
        {"message": message[:500], "at": time.time()},
        _STATE_TTL,
    )


def account_problem_last(*, provider: str) -> dict | None:
    """The last account problem noted for `provider`: {message, at (epoch seconds)}, or None."""
    raw = cache.get(_ACCOUNT_KEY.format(provider=provider))
    return raw if isinstance(raw, dict) else None
