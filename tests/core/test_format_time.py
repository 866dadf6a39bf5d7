"""format_time keeps its last second's text; what it prints must still be datetime's own answer."""

from __future__ import annotations

from datetime import datetime, timezone

from hypothesis import given, strategies as st

from failsync.core.timestamps import format_time


def _reference(seconds: float, digits: int) -> str:
    moment = datetime.fromtimestamp(seconds, timezone.utc)
    text = moment.strftime("%Y-%m-%dT%H:%M:%S")
    if digits:
        text += f".{moment.microsecond:06d}"[: digits + 1]
    return text + "Z"


_SECONDS = st.one_of(
    st.floats(min_value=0, max_value=4e9, allow_nan=False),
    # a hair either side of a whole second, where rounding to the microsecond carries
    st.builds(lambda whole, offset: whole + offset, st.integers(0, 4_000_000_000),
              st.sampled_from([-5e-7, -4.9e-7, 4.9e-7, 5e-7, 0.9999995, 0.9999994])),
)


@given(st.lists(_SECONDS, min_size=1, max_size=6), st.sampled_from([0, 3, 6]))
def test_format_time_is_datetimes_answer_in_any_order(times: list[float], digits: int) -> None:
    # several in a row, so a cached second from the previous call is exercised
    assert [format_time(t, digits=digits) for t in times] == [_reference(t, digits) for t in times]


def test_a_time_just_before_a_second_prints_as_that_second() -> None:
    assert format_time(1_700_000_003.0, digits=3) == "2023-11-14T22:13:23.000Z"
    assert format_time(1_700_000_003.9999995) == "2023-11-14T22:13:24Z"
