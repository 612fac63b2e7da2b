"""Credentials out of log lines and error messages: URLs lose their user-info (`nats://user:pass@host` becomes
`nats://***@host`) before they are logged or raised (README, Observability)."""

import re

# scheme://userinfo@ : the user-info part of any URL in a string (a comma-separated server list included).
_USERINFO = re.compile(r"(?P<scheme>[A-Za-z][A-Za-z0-9+.-]*://)[^/@\s,]*@")


def redact_urls(text: str) -> str:
    """`text` with the user-info of every URL in it replaced by `***`."""
    return _USERINFO.sub(r"\g<scheme>***@", text)
