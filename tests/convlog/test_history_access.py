"""`GET`/`DELETE /sessions/{id}/history` on a real gateway process with auth on: the owner (the JWT subject the
session started with) or an admin reads and erases; anyone else, an unknown or an erased session gets the same 404."""

import json
import time
from collections.abc import AsyncIterator, Iterator

import aiohttp
import jwt
import nats
import pytest

from harness.nats_server import NatsServer
from harness.procs import Service
from shared.convlog.records import SessionEnded
from shared.convlog.writer import LogWriter
from shared.settings import ConvlogSettings
from tests.convlog.conftest import new_session, started, turn

SECRET = "history-test-secret-0123456789abcdef"


def bearer(sub: str, **claims: object) -> dict[str, str]:
    token = jwt.encode({"sub": sub, "exp": int(time.time() + 300), **claims}, SECRET, algorithm="HS256")
    return {"Authorization": f"Bearer {token}"}


@pytest.fixture(scope="module")
def gateway() -> Iterator[Service]:
    server = NatsServer().start()
    service = Service("gateway", server.url, {"VOICECHAT_AUTH_SECRET": SECRET})
    try:
        yield service.start()
    finally:
        service.stop()
        server.close()


@pytest.fixture
async def session(gateway: Service) -> AsyncIterator[str]:
    """A session of `shopper-1` with two turns and its end, written as the services write them."""
    nc = await nats.connect(gateway.env["VOICECHAT_NATS_URL"])
    writer = LogWriter(nc.jetstream(), ConvlogSettings())
    await writer.start()
    session_id = new_session()
    writer.write(started(session_id, subject="shopper-1"))
    writer.write(turn(session_id, 1, transcript="hello"))
    writer.write(turn(session_id, 2, transcript="show me shoes", outcome="interrupted", interrupted_by="barge_in"))
    writer.write(SessionEnded(session_id=session_id, at=time.time(), connection="c"))
    await writer.close(timeout_s=5)
    await nc.close()
    yield session_id


async def history(gateway: Service, session_id: str, headers: dict[str, str], method: str = "GET") -> tuple[int, str]:
    async with (
        aiohttp.ClientSession() as http,
        http.request(method, f"{gateway.base_url}/sessions/{session_id}/history", headers=headers) as response,
    ):
        return response.status, await response.text()


async def test_the_owner_reads_the_turns(gateway: Service, session: str) -> None:
    status, body = await history(gateway, session, bearer("shopper-1"))
    assert status == 200
    document = json.loads(body)
    assert document["session_id"] == session and document["ended_at"] >= document["started_at"]
    assert [(t["turn_id"], t["transcript"], t["outcome"]) for t in document["turns"]] == [
        (1, "hello", "answered"),
        (2, "show me shoes", "interrupted"),
    ]
    assert "shopper-1" not in body  # the owner's subject is not part of the answer


async def test_foreign_unknown_and_bad_ids_are_the_same_404(gateway: Service, session: str) -> None:
    foreign = await history(gateway, session, bearer("shopper-2"))
    unknown = await history(gateway, new_session(), bearer("shopper-1"))
    bad_id = await history(gateway, "not-a-session", bearer("shopper-1"))
    assert foreign == unknown == bad_id
    assert foreign[0] == 404
    assert (await history(gateway, session, bearer("shopper-2"), "DELETE"))[0] == 404
    assert (await history(gateway, session, bearer("shopper-1")))[0] == 200  # a foreign DELETE erased nothing


async def test_no_token_or_a_forged_one_is_401(gateway: Service, session: str) -> None:
    assert (await history(gateway, session, {}))[0] == 401
    forged = jwt.encode({"sub": "shopper-1", "exp": int(time.time() + 60)}, "x" * 40, algorithm="HS256")
    assert (await history(gateway, session, {"Authorization": f"Bearer {forged}"}))[0] == 401


async def test_an_admin_reads_and_the_owner_erases(gateway: Service, session: str) -> None:
    assert (await history(gateway, session, bearer("support-agent", admin=True)))[0] == 200
    assert (await history(gateway, session, bearer("support-agent", admin="yes")))[0] == 404
    assert (await history(gateway, session, bearer("shopper-1"), "DELETE"))[0] == 204
    assert (await history(gateway, session, bearer("shopper-1")))[0] == 404
    assert (await history(gateway, session, bearer("support-agent", admin=True)))[0] == 404
