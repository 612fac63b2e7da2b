"""The NATS Helm values' users, run for real: a nats-server started with the values' `config.merge` block lets each
service use exactly the subjects shared.subjects gives it, and refuses what belongs to another service."""

import asyncio
import datetime
import json
import re
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import nats
import pytest
import yaml
from nats.aio.client import Client as NATS
from nats.aio.msg import Msg
from nats.errors import NoRespondersError

from gateway.shopper_kv import KvShoppers
from harness.nats_server import NatsServer
from shared import subjects
from shared.convlog.records import TurnRecord, encoder
from shared.convlog.stream import ensure_stream, erase_session, read_range, read_session
from shared.liveness import Beacon, LivenessWatch, open_workers_bucket
from shared.session_record import SessionRecord
from shared.session_store import SessionStore
from shared.settings import ConvlogSettings, GatewaySettings
from tests.deploy.tools import ROOT

SESSION = "0123456789abcdef0123456789abcdef"
USERS = ("gateway", "vad-worker", "dialog-worker", "tools-worker")
# What each service does on the bus, built with shared.subjects only.
PUBLISHES = {
    "gateway": [
        *(subjects.claim(kind) for kind in subjects.WORKER_KINDS),
        *(subjects.session_claim(SESSION, kind) for kind in subjects.WORKER_KINDS),
        *(subjects.ping(kind) for kind in subjects.WORKER_KINDS),
        subjects.audio(SESSION),
        subjects.control(SESSION),
        subjects.takeover(SESSION),
    ],
    "vad-worker": [subjects.vad(SESSION), subjects.turn_audio(SESSION, 7)],
    "dialog-worker": [
        subjects.events(SESSION, 3),
        subjects.tools_endpoint("search_products"),
        subjects.turn_audio_closed(SESSION),
    ],
    "tools-worker": [],
}
SUBSCRIBES = {
    "gateway": [subjects.all_events(SESSION), subjects.takeover(SESSION), "_INBOX.>"],
    "vad-worker": [
        subjects.claim("vad"),
        subjects.ping("vad"),
        subjects.session_claim(SESSION, "vad"),
        subjects.audio(SESSION),
        subjects.control(SESSION),
        subjects.turn_audio_closed(SESSION),
        "_INBOX.>",
    ],
    "dialog-worker": [
        subjects.claim("dialog"),
        subjects.ping("dialog"),
        subjects.session_claim(SESSION, "dialog"),
        subjects.audio(SESSION),
        subjects.control(SESSION),
        subjects.vad(SESSION),
        subjects.all_turn_audio(SESSION),
        "_INBOX.>",
    ],
    "tools-worker": [subjects.tools_endpoint("search_products"), subjects.tools_endpoint("get_product"), "$SRV.>"],
}
# (user, subject) pairs that belong to another service.
DENIED_PUBLISH = [("vad-worker", subjects.events(SESSION, 1)), ("gateway", subjects.vad(SESSION))]
DENIED_PUBLISH += [("tools-worker", subjects.events(SESSION, 1)), ("dialog-worker", subjects.audio(SESSION))]
DENIED_PUBLISH += [("gateway", subjects.turn_audio(SESSION, 7)), ("dialog-worker", subjects.turn_audio(SESSION, 7))]
DENIED_PUBLISH += [
    ("vad-worker", f"$KV.{subjects.SESSIONS_BUCKET}.{SESSION}"),
    ("gateway", subjects.events(SESSION, 1)),
]
DENIED_SUBSCRIBE = [("gateway", subjects.audio(SESSION)), ("vad-worker", subjects.all_events(SESSION))]
DENIED_SUBSCRIBE += [("tools-worker", subjects.control(SESSION)), ("dialog-worker", subjects.claim("vad"))]


def nats_config() -> str:
    """The values' merge block as a NATS config; `<< $VAR >>` becomes the unquoted variable, as the chart renders."""
    merge = yaml.safe_load((ROOT / "deploy" / "nats" / "values.yaml").read_text())["config"]["merge"]
    text = "\n".join(f"{key}: {json.dumps(value)}" for key, value in merge.items())
    return re.sub(r'"<< (\$\w+) >>"', r"\1", text)


def password(user: str) -> str:
    return f"pw-{user}"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[NatsServer]:
    config = Path(tmp_path_factory.mktemp("nats")) / "nats.conf"
    config.write_text(nats_config())
    env = {f"{user.replace('-', '_').upper()}_PASSWORD": password(user) for user in (*USERS, "sys")}
    with pytest.MonkeyPatch.context() as patch:
        for key, value in env.items():
            patch.setenv(key, value)
        server = NatsServer(extra_args=("-c", str(config))).start()
    yield server
    server.close()


class Client:
    """A connection as one service's user that records permission violations."""

    def __init__(self) -> None:
        self.errors: list[str] = []
        self.nc: NATS | None = None

    async def connect(self, url: str, user: str) -> NATS:
        async def on_error(exc: Exception) -> None:
            self.errors.append(str(exc))

        self.nc = await nats.connect(url, user=user, password=password(user), error_cb=on_error)
        return self.nc

    def violations(self) -> list[str]:
        return [error for error in self.errors if "ermissions" in error]

    async def settle(self) -> list[str]:
        """Violations after a round trip: the server answers our PING after every earlier command."""
        assert self.nc is not None
        await self.nc.flush()
        await asyncio.sleep(0.05)
        return self.violations()

    async def refused(self) -> bool:
        """Wait (bounded) for the server's permission violation."""
        for _ in range(100):
            if await self.settle():
                return True
        return False


@pytest.fixture
async def client() -> AsyncIterator[Client]:
    made = Client()
    yield made
    if made.nc is not None:
        await made.nc.close()


@pytest.mark.parametrize("user", USERS)
async def test_service_uses_its_subjects(server: NatsServer, client: Client, user: str) -> None:
    nc = await client.connect(server.url, user)
    for subject in SUBSCRIBES[user]:
        await nc.subscribe(subject)
    for subject in PUBLISHES[user]:
        await nc.publish(subject, b"x")
    assert await client.settle() == []


@pytest.mark.parametrize(("user", "subject"), DENIED_PUBLISH)
async def test_foreign_publish_is_refused(server: NatsServer, client: Client, user: str, subject: str) -> None:
    nc = await client.connect(server.url, user)
    await nc.publish(subject, b"x")
    assert await client.refused()


@pytest.mark.parametrize(("user", "subject"), DENIED_SUBSCRIBE)
async def test_foreign_subscribe_is_refused(server: NatsServer, client: Client, user: str, subject: str) -> None:
    nc = await client.connect(server.url, user)
    await nc.subscribe(subject)
    assert await client.refused()


async def request_when_heard(nc: NATS, subject: str, tries: int = 5) -> Msg:
    """The reply to a request; "no responders" (the responder's interest not yet seen by the requester's side) is
    retried a few times: what is tested here is permission, not how fast interest spreads."""
    for _ in range(tries - 1):
        try:
            return await nc.request(subject, b"?", timeout=10)
        except NoRespondersError:
            await asyncio.sleep(0.2)
    return await nc.request(subject, b"?", timeout=10)


@pytest.mark.parametrize(
    ("requester", "responder", "subject"),
    [
        ("gateway", "vad-worker", subjects.claim("vad")),
        ("gateway", "dialog-worker", subjects.session_claim(SESSION, "dialog")),
        ("dialog-worker", "tools-worker", subjects.tools_endpoint("get_product")),
    ],
)
async def test_requests_get_replies(server: NatsServer, requester: str, responder: str, subject: str) -> None:
    asker, answerer = Client(), Client()
    ask = await asker.connect(server.url, requester)
    answer = await answerer.connect(server.url, responder)
    try:

        async def respond(msg: Msg) -> None:
            await msg.respond(b"ok")

        await answer.subscribe(subject, cb=respond)
        await answer.flush()
        reply = await request_when_heard(ask, subject)
        assert reply.data == b"ok"
        assert await asker.settle() == [] and await answerer.settle() == []
    finally:
        await ask.close()
        await answer.close()


async def test_conversation_log_permissions(server: NatsServer) -> None:
    """The gateway creates, writes, reads, exports and erases the log; a dialog worker creates and writes it only."""
    gateway, dialog = Client(), Client()
    gw = await gateway.connect(server.url, "gateway")
    dw = await dialog.connect(server.url, "dialog-worker")
    try:
        settings = ConvlogSettings()
        for nc in (gw, dw):
            await ensure_stream(nc.jetstream(), settings)
            ack = await nc.jetstream().publish(subjects.convlog(SESSION), encoder.encode(record()))
            assert ack.stream == subjects.CONVLOG_STREAM
        assert len(await read_session(gw.jetstream(), SESSION)) == 2
        since = datetime.datetime.now(datetime.UTC) - datetime.timedelta(minutes=5)
        exported = [r async for r in read_range(gw.jetstream(), since, since + datetime.timedelta(minutes=10))]
        assert len(exported) == 2
        with pytest.raises(nats.errors.Error):
            await erase_session(dw.jetstream(), SESSION)
        await erase_session(gw.jetstream(), SESSION)
        assert await read_session(gw.jetstream(), SESSION) == []
        assert await gateway.settle() == []
    finally:
        await gw.close()
        await dw.close()


def record() -> TurnRecord:
    return TurnRecord(session_id=SESSION, at=0.0, turn_id=1, turn_key="k", input="text", outcome="answered")


async def test_each_service_uses_its_kv_buckets(server: NatsServer) -> None:
    """The gateway keeps session records and watches liveness; each worker keeps its liveness key."""
    settings = GatewaySettings(owner_stale_s=1.0)
    clients = {user: Client() for user in ("gateway", "vad-worker", "dialog-worker")}
    try:
        gateway = await clients["gateway"].connect(server.url, "gateway")
        store = await SessionStore.open(gateway.jetstream(), settings)
        revision = await store.write(SessionRecord(session_id=SESSION, connection="c1"), 0)
        assert revision is not None
        assert (await store.get(SESSION))[1] == revision
        seen: list[str] = []
        watch = LivenessWatch(await open_workers_bucket(gateway.jetstream(), settings), lambda w, _: seen.append(w))
        watching = asyncio.create_task(watch.run())
        await asyncio.wait_for(watch.synced.wait(), 10)
        for user in ("vad-worker", "dialog-worker"):
            nc = await clients[user].connect(server.url, user)
            await Beacon(await open_workers_bucket(nc.jetstream(), settings), f"{user}-1", user, 0.5).refresh()
        for _ in range(100):
            if len(seen) == 2:
                break
            await asyncio.sleep(0.05)
        assert sorted(seen) == ["dialog-worker-1", "vad-worker-1"]
        watching.cancel()
        await asyncio.gather(watching, return_exceptions=True)
        for client in clients.values():
            assert await client.settle() == []
    finally:
        for client in clients.values():
            if client.nc is not None:
                await client.nc.close()


async def test_the_gateway_keeps_shopper_slots_and_ended_sessions(server: NatsServer) -> None:
    """The per-shopper session slots and the ended sessions (gateway/shopper_kv.py) under the gateway's user."""
    settings = GatewaySettings(max_sessions_per_shopper=1, shopper_slot_ttl_s=3.0)
    client = Client()
    try:
        nc = await client.connect(server.url, "gateway")
        shoppers = await KvShoppers.open_buckets(nc.jetstream(), settings)
        assert await shoppers.open("sub:a", SESSION) and not await shoppers.open("sub:a", "f" * 32)
        await shoppers._refresh_all()
        await shoppers.close("sub:a", SESSION)
        assert await shoppers.open("sub:a", "f" * 32)
        await shoppers.end(SESSION, time.time() + 60)
        assert await KvShoppers(shoppers.slots, shoppers.ended_kv, settings).ended(SESSION, time.time())
        assert await client.settle() == []
    finally:
        if client.nc is not None:
            await client.nc.close()
