"""TwiML answering Twilio's incoming-call webhook: connect the call to the bidirectional stream (docs/telephony.md).

`<Connect><Stream>` keeps the call on the stream until the gateway closes the WebSocket; the `<Parameter>`s come
back in the stream's `start` message as `customParameters`: `caller` (a keyed digest of the caller's number,
never the number) and `language`.
"""

import hashlib
from xml.etree import ElementTree

CALLER_PARAM = "caller"
LANGUAGE_PARAM = "language"


def caller_digest(key: bytes, number: str) -> str:
    """A stable, keyed, one-way reference to a caller's number (correlates calls without storing the number)."""
    return hashlib.blake2b(number.encode(), key=key[:64], digest_size=8).hexdigest()


def connect_stream(stream_url: str, parameters: dict[str, str]) -> str:
    response = ElementTree.Element("Response")
    stream = ElementTree.SubElement(ElementTree.SubElement(response, "Connect"), "Stream", url=stream_url)
    for name, value in parameters.items():
        ElementTree.SubElement(stream, "Parameter", name=name, value=value)
    body = ElementTree.tostring(response, encoding="unicode")
    return f'<?xml version="1.0" encoding="UTF-8"?>\n{body}'
