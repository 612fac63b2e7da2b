"""TwiML for the incoming-call webhook: the same document Twilio's helper library builds."""

from xml.etree import ElementTree

from twilio.twiml.voice_response import Connect, VoiceResponse

from gateway.twilio.twiml import caller_digest, connect_stream


def canonical(xml: str) -> str:
    return ElementTree.canonicalize(xml, strip_text=True)


def test_connect_stream_matches_the_helper_library() -> None:
    url = "wss://voice.example.com/ws/twilio"
    params = {"caller": "0f1e2d3c4b5a6978", "language": "en-US"}
    response, connect = VoiceResponse(), Connect()
    stream = connect.stream(url=url)
    for name, value in params.items():
        stream.parameter(name=name, value=value)
    response.append(connect)
    ours = connect_stream(url, params)
    assert ours.startswith('<?xml version="1.0" encoding="UTF-8"?>')
    assert canonical(ours) == canonical(str(response))


def test_caller_digest_is_keyed_stable_and_hides_the_number() -> None:
    number = "+14155550123"
    digest = caller_digest(b"key-1", number)
    assert digest == caller_digest(b"key-1", number)
    assert digest != caller_digest(b"key-2", number)
    assert "4155550123" not in digest and len(digest) == 16
