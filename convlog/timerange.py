"""Time bounds of the CLI: an ISO 8601 time (UTC unless it says otherwise), `now`, or an age such as `90m`,
`24h`, `7d` before now."""

import datetime
import re

_AGE = re.compile(r"^(\d+(?:\.\d+)?)([smhd])$")
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def parse_time(text: str, now: datetime.datetime) -> datetime.datetime:
    """A timezone-aware time; ValueError with a readable message otherwise."""
    if text == "now":
        return now
    age = _AGE.match(text)
    if age:
        return now - datetime.timedelta(seconds=float(age.group(1)) * _UNITS[age.group(2)])
    try:
        moment = datetime.datetime.fromisoformat(text)
    except ValueError as exc:
        raise ValueError(f"{text!r} is neither an ISO 8601 time, `now`, nor an age such as 24h or 7d") from exc
    return moment if moment.tzinfo else moment.replace(tzinfo=datetime.UTC)
