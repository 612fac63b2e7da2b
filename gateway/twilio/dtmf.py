"""Keys pressed on the phone, turned into a typed request (pure, time passed in; docs/telephony.md, "Keypad").

Digits are collected until `#` or until no key has come for `timeout_s`; the number then reaches the agent as
the text "tell me about product N". `*` forgets the digits typed so far; `#` with no digits does nothing; more
than MAX_DIGITS digits are cut to the first MAX_DIGITS.

| phase      | digit 0-9                      | `#`                       | `*`          | tick past deadline       |
|------------|--------------------------------|---------------------------|--------------|--------------------------|
| idle       | collecting (deadline reset)    | idle                      | idle         | idle                     |
| collecting | collecting (digit kept)        | idle, request sent        | idle         | idle, request sent       |
"""

from dataclasses import dataclass, field

MAX_DIGITS = 6
DIGITS = frozenset("0123456789")


def request_text(digits: str) -> str:
    return f"tell me about product {int(digits)}"


@dataclass(slots=True)
class DtmfCollector:
    timeout_s: float
    digits: str = ""
    deadline: float | None = field(default=None)

    def press(self, key: str, now: float) -> str | None:
        """One key; the request text when it completes one."""
        if key in DIGITS:
            self.digits = (self.digits + key)[:MAX_DIGITS]
            self.deadline = now + self.timeout_s
            return None
        if key == "#":
            return self._complete()
        self._reset()  # `*`, and the keys A-D some phones have, cancel
        return None

    def tick(self, now: float) -> str | None:
        """The request text when the collected digits have waited past the timeout."""
        if self.deadline is not None and now >= self.deadline:
            return self._complete()
        return None

    def _complete(self) -> str | None:
        digits = self.digits
        self._reset()
        return request_text(digits) if digits else None

    def _reset(self) -> None:
        self.digits, self.deadline = "", None
