"""The retry helper's policy, with the clock and the dice injected: no waiting, no guessing."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest
from hypothesis import given
from hypothesis import strategies as st

from roundtable.client.retry import backoff_ceiling, backoff_delay, retry_async
from roundtable.errors import ConflictError, NotFound, RateLimited, RoundtableError


class Clock:
    """Records requested sleeps instead of sleeping."""

    def __init__(self) -> None:
        self.sleeps: list[float] = []

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)


def failing(
    errors: list[BaseException], result: str = "done"
) -> tuple[Callable[..., object], list[int]]:
    """A call that raises `errors` in turn, then returns `result`; counts its calls."""
    calls = [0]
    pending: Iterator[BaseException] = iter(errors)

    async def fn() -> str:
        calls[0] += 1
        error = next(pending, None)
        if error is not None:
            raise error
        return result

    return fn, calls


def conflicts(n: int) -> list[BaseException]:
    return [ConflictError(f"conflict {i}", current_version=i) for i in range(n)]


async def test_succeeds_after_conflicts_with_doubling_ceiling() -> None:
    clock = Clock()
    fn, calls = failing(conflicts(4))
    result = await retry_async(
        fn, attempts=5, base_delay=0.1, max_delay=10, sleep=clock.sleep, rand=lambda: 1.0
    )
    assert result == "done"
    assert calls[0] == 5
    assert clock.sleeps == pytest.approx([0.1, 0.2, 0.4, 0.8])


async def test_backoff_is_capped_at_max_delay() -> None:
    clock = Clock()
    fn, _ = failing(conflicts(5))
    await retry_async(
        fn, attempts=6, base_delay=1.0, max_delay=3.0, sleep=clock.sleep, rand=lambda: 1.0
    )
    assert clock.sleeps == [1.0, 2.0, 3.0, 3.0, 3.0]


async def test_full_jitter_scales_the_ceiling_by_the_random_draw() -> None:
    clock = Clock()
    draws = iter([0.0, 0.5, 0.25])
    fn, _ = failing(conflicts(3))
    await retry_async(
        fn, attempts=4, base_delay=1.0, max_delay=100, sleep=clock.sleep, rand=lambda: next(draws)
    )
    assert clock.sleeps == [0.0, 1.0, 1.0]  # 0.0*1, 0.5*2, 0.25*4


@given(
    attempt=st.integers(min_value=1, max_value=10_000),
    base=st.floats(min_value=0, max_value=10),
    cap=st.floats(min_value=0, max_value=60),
    draw=st.floats(min_value=0, max_value=1, exclude_max=True),
)
def test_jitter_stays_within_zero_and_the_ceiling(
    attempt: int, base: float, cap: float, draw: float
) -> None:
    ceiling = backoff_ceiling(attempt, base, cap)
    assert 0 <= ceiling <= cap
    assert ceiling <= base * 2 ** min(attempt - 1, 64)
    delay = backoff_delay(
        attempt, ConflictError("x"), base_delay=base, max_delay=cap, rand=lambda: draw
    )
    assert 0 <= delay <= ceiling


async def test_retry_after_is_a_lower_bound_even_above_max_delay() -> None:
    clock = Clock()
    fn, _ = failing([RateLimited("slow down", retry_after=5.0)])
    await retry_async(
        fn, attempts=2, base_delay=0.1, max_delay=1.0, sleep=clock.sleep, rand=lambda: 0.0
    )
    assert clock.sleeps == [5.0]


async def test_jitter_above_retry_after_is_kept() -> None:
    clock = Clock()
    fn, _ = failing([RateLimited("slow down", retry_after=0.01)])
    await retry_async(
        fn, attempts=2, base_delay=2.0, max_delay=10, sleep=clock.sleep, rand=lambda: 0.5
    )
    assert clock.sleeps == [1.0]


async def test_gives_up_after_attempts_and_raises_the_last_error() -> None:
    clock = Clock()
    errors = conflicts(10)
    fn, calls = failing(errors)
    with pytest.raises(ConflictError) as raised:
        await retry_async(fn, attempts=3, base_delay=0.01, sleep=clock.sleep, rand=lambda: 0.5)
    assert calls[0] == 3
    assert raised.value is errors[2]
    assert len(clock.sleeps) == 2


@pytest.mark.parametrize(
    "error", [NotFound("no such project"), ValueError("bug"), RoundtableError("x")]
)
async def test_other_errors_are_not_retried(error: BaseException) -> None:
    clock = Clock()
    fn, calls = failing([error])
    with pytest.raises(type(error)):
        await retry_async(fn, attempts=5, sleep=clock.sleep)
    assert calls[0] == 1
    assert clock.sleeps == []


async def test_retry_on_selects_what_is_retried() -> None:
    clock = Clock()
    fn, calls = failing([NotFound("not yet"), ConflictError("now a conflict")])
    with pytest.raises(ConflictError):
        await retry_async(fn, attempts=5, retry_on=(NotFound,), sleep=clock.sleep, rand=lambda: 0)
    assert calls[0] == 2


async def test_on_retry_sees_each_failed_attempt() -> None:
    seen: list[tuple[int, str, float]] = []
    clock = Clock()
    fn, _ = failing(conflicts(2))
    await retry_async(
        fn,
        attempts=3,
        base_delay=1.0,
        sleep=clock.sleep,
        rand=lambda: 1.0,
        on_retry=lambda n, e, d: seen.append((n, str(e), d)),
    )
    assert seen == [(1, "conflict 0", 1.0), (2, "conflict 1", 2.0)]


async def test_single_attempt_never_sleeps() -> None:
    clock = Clock()
    fn, calls = failing(conflicts(1))
    with pytest.raises(ConflictError):
        await retry_async(fn, attempts=1, sleep=clock.sleep)
    assert (calls[0], clock.sleeps) == (1, [])


async def test_nonsense_parameters_are_refused() -> None:
    fn, _ = failing([])
    with pytest.raises(ValueError):
        await retry_async(fn, attempts=0)
    with pytest.raises(ValueError):
        await retry_async(fn, base_delay=-1)
    with pytest.raises(ValueError):
        backoff_ceiling(0, 1, 1)
