"""Cron expressions: five fields in UTC, parsed by croniter; CRON_PATTERN says the
same in a regular expression for API schemas (numbers, `*`, ranges, lists and steps;
every string it matches croniter accepts)."""

from __future__ import annotations

import datetime as dt

from croniter import croniter


def _field(number: str) -> str:
    step = r"(/(0?[1-9]|[1-5][0-9]))?"
    item = rf"(\*|({number})(-({number}))?){step}"
    return rf"{item}(,{item})*"


CRON_PATTERN = (
    rf"^({_field(r'[0-5]?[0-9]')}) ({_field(r'[01]?[0-9]|2[0-3]')}) "
    rf"({_field(r'0?[1-9]|[12][0-9]|3[01]')}) ({_field(r'0?[1-9]|1[0-2]')}) "
    rf"({_field(r'0?[0-7]')})$"
)
"""minute hour day-of-month month day-of-week, e.g. `0 3 * * *`, `*/15 * * * 1-5`"""


def valid_cron(expression: str) -> bool:
    return bool(croniter.is_valid(expression))


def next_after(expression: str, at: dt.datetime) -> dt.datetime:
    nxt = croniter(expression, at).get_next(dt.datetime)
    assert isinstance(nxt, dt.datetime)
    return nxt if nxt.tzinfo else nxt.replace(tzinfo=dt.UTC)
