"""Per-shopper limits across every gateway, on JetStream KV (docs/protocol.md, "Limits"); the pure parts and this
gateway's own book are in gateway/shoppers.py.

Sessions at once: the bucket `voicechat_shoppers` holds up to VOICECHAT_MAX_SESSIONS_PER_SHOPPER slot keys per
shopper, `<shopper digest>.<i>`, each naming the session that holds it (its digest) and the socket holding it. A
new session takes a free slot with `create`, which the server grants once per key: of two gateways racing for a
shopper's last slot exactly one wins, the other tries the next slot and finds none. A second socket of a session
(a resume, on any gateway) takes that session's slot over (compare-and-set) instead of taking another. The
gateway refreshes the slots of its sockets every third of VOICECHAT_SHOPPER_SLOT_TTL_S (compare-and-set on the
revision it wrote, so a slot taken over elsewhere is let go), deletes a slot when its last socket here closes, and
the bucket ages a slot out one TTL after its last refresh: a crashed gateway's sessions stop counting then.

Ended sessions: the bucket `voicechat_ended` holds one key per session ended with `end_session` (its digest), with
a per-message TTL until the last resume token of the session expires; every gateway refuses those tokens.

Turns a minute per shopper: each gateway decides a turn at once from its own bucket of the shopper
(`LocalShoppers`), then charges the turn to the shopper's ledger `<shopper digest>.turns` in the same bucket (a
token bucket in unix time, compare-and-set) in the background, and lowers its own bucket to what the ledger has
left: the budget holds across gateways, each gateway at most one turn behind (a turn is never delayed by the KV).
A ledger left alone for the slot TTL ages out, which counts as full (by then it has refilled by half a minute's
worth or more at the default settings).

Keys and values carry digests (gateway/shoppers.py), never a subject, an address or a session id. The KV is
touched when sockets open and close, on resumes, once per turn (off the turn's path) and on a timer, never per
frame.
"""

import asyncio
import math
import time
import uuid
import weakref
from dataclasses import dataclass

import msgspec
from nats.js import JetStreamContext
from nats.js.errors import BadRequestError, KeyDeletedError, KeyNotFoundError, KeyWrongLastSequenceError
from nats.js.kv import KeyValue

from gateway.limits import TokenBucket
from gateway.shoppers import LocalShoppers, digest, digest_key, slots_to_try
from shared import subjects
from shared.kv import bucket_config, open_bucket
from shared.logs import get_logger
from shared.loops import ErrorBurst, forever
from shared.settings import GatewaySettings

log = get_logger(__name__)

_TAKE_ATTEMPTS = 3  # compare-and-set conflicts tolerated while taking a slot


class SlotHolder(msgspec.Struct, frozen=True):
    session: str  # the session's digest
    socket: str  # a random id of the socket holding it


class TurnLedger(msgspec.Struct, frozen=True):
    tokens: float  # turns left
    at: float  # unix seconds of `tokens`


_encoder = msgspec.json.Encoder()
_decoder = msgspec.json.Decoder(SlotHolder)
_ledger_decoder = msgspec.json.Decoder(TurnLedger)


async def _entry(kv: KeyValue, key: str) -> tuple[bytes | None, int]:
    """A key's value and revision; (None, 0) when it has none."""
    try:
        entry = await kv.get(key)
    except (KeyNotFoundError, KeyDeletedError):
        return None, 0
    return entry.value or b"", entry.revision or 0


@dataclass(slots=True)
class _Held:
    key: str
    value: bytes
    revision: int


class KvShoppers:
    """`ShopperDirectory` across gateways; `run()` refreshes this gateway's slots until cancelled."""

    def __init__(self, slots: KeyValue, ended: KeyValue, settings: GatewaySettings) -> None:
        self.slots = slots
        self.ended_kv = ended
        self.cap = settings.max_sessions_per_shopper
        self.ttl_s = settings.shopper_slot_ttl_s
        self.local = LocalShoppers(settings.max_sessions_per_shopper, settings.turns_per_minute_shopper)
        self._key = digest_key(settings)
        self._held: dict[tuple[str, str], _Held] = {}
        self._locks: weakref.WeakValueDictionary[str, asyncio.Lock] = weakref.WeakValueDictionary()
        self._errors = ErrorBurst("shopper_slots")
        self._charges: set[asyncio.Task[None]] = set()
        self._charge_errors = ErrorBurst("shopper_turns")

    @classmethod
    async def open_buckets(cls, js: JetStreamContext, settings: GatewaySettings) -> "KvShoppers":
        replicas = settings.kv_replicas
        slots = await open_bucket(js, bucket_config(subjects.SHOPPERS_BUCKET, replicas, settings.shopper_slot_ttl_s))
        ended = await open_bucket(js, bucket_config(subjects.ENDED_BUCKET, replicas, 0))  # per-message TTLs
        return cls(slots, ended, settings)

    async def run(self) -> None:
        await forever("shopper_slots_refresh", self._refresh_all, self.ttl_s / 3)

    # -- ShopperDirectory ---------------------------------------------------------------------------------------

    async def open(self, shopper: str, session_id: str) -> bool:
        if self.cap == 0:
            return await self.local.open(shopper, session_id)
        async with self._lock(shopper):
            if self.local.holds(shopper, session_id):
                return await self.local.open(shopper, session_id)  # another socket of a session counted here
            held = await self._take(shopper, session_id, take_over=True)
            if held is None:
                return False
            if not await self.local.open(shopper, session_id):  # slots lost in an outage were taken meanwhile
                await self._release(held)
                return False
            self._held[shopper, session_id] = held
            return True

    async def close(self, shopper: str, session_id: str) -> None:
        async with self._lock(shopper):
            await self.local.close(shopper, session_id)
            if self.local.holds(shopper, session_id):
                return
            held = self._held.pop((shopper, session_id), None)
            if held is not None:
                await self._release(held)

    async def end(self, session_id: str, until: float) -> None:
        await self.local.end(session_id, until)
        ttl_s = max(1, math.ceil(until - time.time()))
        try:
            await self.ended_kv.create(digest(self._key, "session", session_id), b"", msg_ttl=ttl_s)
        except KeyWrongLastSequenceError:
            pass  # ended already
        except Exception as exc:  # noqa: BLE001 - counted: this gateway still refuses the tokens
            self._errors.failed(exc)

    async def ended(self, session_id: str, now: float) -> bool:
        """Ended here, or on any gateway (a KV read: raises when NATS cannot answer; the resume is then refused)."""
        if await self.local.ended(session_id, now):
            return True
        value, _ = await _entry(self.ended_kv, digest(self._key, "session", session_id))
        return value is not None

    def turn_bucket(self, shopper: str, now: float) -> TokenBucket:
        return self.local.turn_bucket(shopper, now)

    def turn_taken(self, shopper: str, bucket: TokenBucket) -> None:
        """A turn of `shopper` was allowed here from `bucket`: charge it to the shopper's ledger (background)."""
        task = asyncio.ensure_future(self._charge(shopper, bucket))
        self._charges.add(task)
        task.add_done_callback(self._charges.discard)

    async def _charge(self, shopper: str, bucket: TokenBucket) -> None:
        key = f"{digest(self._key, 'shopper', shopper)}.turns"
        rate, burst = bucket.rate, bucket.burst
        try:
            for _ in range(_TAKE_ATTEMPTS):
                now = time.time()
                ledger, revision = await self._ledger(key)
                shared = (
                    TokenBucket(rate, burst, ledger.tokens, ledger.at) if ledger else TokenBucket.full(rate, burst, now)
                )
                if not shared.take(1, now):
                    bucket.tokens = 0.0  # over the budget across gateways: refuse here until it refills
                    return
                value = _encoder.encode(TurnLedger(tokens=shared.tokens, at=now))
                try:
                    await (self.slots.create(key, value) if revision == 0 else self.slots.update(key, value, revision))
                except (KeyWrongLastSequenceError, KeyNotFoundError):
                    continue  # another gateway charged meanwhile: again on the fresh ledger
                bucket.tokens = min(bucket.tokens, shared.tokens)
                return
        except Exception as exc:  # noqa: BLE001 - counted: the turn stands, this gateway's own bucket still holds
            self._charge_errors.failed(exc)

    async def _ledger(self, key: str) -> tuple[TurnLedger | None, int]:
        value, revision = await _entry(self.slots, key)
        try:
            return (None if value is None else _ledger_decoder.decode(value)), revision
        except msgspec.DecodeError:
            return None, revision  # unreadable: replaced by a full ledger

    # -- slots --------------------------------------------------------------------------------------------------

    def _lock(self, shopper: str) -> asyncio.Lock:
        """One open or close at a time per shopper on this gateway (kept while anyone waits on it)."""
        lock = self._locks.get(shopper)
        if lock is None:
            lock = self._locks[shopper] = asyncio.Lock()
        return lock

    async def _take(self, shopper: str, session_id: str, take_over: bool) -> _Held | None:
        """A slot for the session: the one it holds already (taken over when `take_over`, else None: another
        socket holds it), or a free one; None when the shopper has none left."""
        prefix, session = digest(self._key, "shopper", shopper), digest(self._key, "session", session_id)
        keys = [f"{prefix}.{index}" for index in range(self.cap)]
        value = _encoder.encode(SlotHolder(session=session, socket=uuid.uuid4().hex))
        for _ in range(_TAKE_ATTEMPTS):
            entries = await asyncio.gather(*(self._read(key) for key in keys))
            holders = [holder for holder, _ in entries]
            candidates = slots_to_try(holders, session)
            if not candidates or (holders[candidates[0]] is not None and not take_over):
                return None
            for index in candidates:
                key = keys[index]
                try:
                    if holders[index] is None:
                        return _Held(key, value, await self.slots.create(key, value))
                    return _Held(key, value, await self.slots.update(key, value, last=entries[index][1]))
                except (KeyWrongLastSequenceError, KeyNotFoundError):
                    continue  # another gateway was faster: the next free slot, or read them again
        return None

    async def _read(self, key: str) -> tuple[str | None, int]:
        """Who holds a slot (a session digest; None: free) and its revision. An unreadable value holds it."""
        value, revision = await _entry(self.slots, key)
        try:
            return (None if value is None else _decoder.decode(value).session), revision
        except msgspec.DecodeError:
            return "unreadable", revision

    async def _release(self, held: _Held) -> None:
        try:
            await self.slots.delete(held.key, last=held.revision)
        except BadRequestError:
            pass  # taken over by another socket of the session: its slot now
        except Exception as exc:  # noqa: BLE001 - counted: the slot ages out within its TTL
            self._errors.failed(exc)

    async def _refresh_all(self) -> None:
        for (shopper, session_id), held in list(self._held.items()):
            try:
                held.revision = await self.slots.update(held.key, held.value, last=held.revision)
            except KeyWrongLastSequenceError:
                await self._retake(shopper, session_id)
            except Exception as exc:  # noqa: BLE001 - NATS away: tried again next time, the slot may age out
                self._errors.failed(exc)

    async def _retake(self, shopper: str, session_id: str) -> None:
        """The slot changed under us: another socket of the session took it over (let it go), or it aged out
        while this gateway could not refresh it (take a slot again if the shopper has one left; if not, the
        socket stays open, uncounted)."""
        async with self._lock(shopper):
            if (shopper, session_id) not in self._held:
                return
            held = await self._take(shopper, session_id, take_over=False)
            if held is None:
                del self._held[shopper, session_id]
                log.info("shopper_slot_lost")
                return
            self._held[shopper, session_id] = held
