"""The session record kept in the JetStream KV bucket of sessions (shared/session_store.py).

One record per session, written only with compare-and-set on its revision (shared/ownership.py decides every
change): which socket holds the session, which worker of each kind owns it and under which ownership epoch, and
where its turn ids and audio sequence numbers continue after a resume. Every bus message of a session carries the
epoch it was sent under (shared/epochs.py), so a message of an older epoch is recognised and dropped.
"""

import msgspec

from shared.subjects import WORKER_KINDS, WorkerKind


class KindOwner(msgspec.Struct, frozen=True):
    """The owner of one worker kind: the last worker that took the session (None: never taken yet) and the
    newest epoch reserved for it. A reserved epoch is handed to exactly one claim request."""

    worker_id: str | None = None
    epoch: int = 0


class SessionRecord(msgspec.Struct, frozen=True, kw_only=True):
    session_id: str
    connection: str  # the socket that holds the session; a resume elsewhere takes it over
    language: str = "en-US"
    subject: str | None = None  # the authenticated subject (JWT `sub`), None without auth
    owners: dict[str, KindOwner] = msgspec.field(default_factory=dict)
    last_turn_id: int = 0
    audio_seq: int = 0  # the next audio frame's sequence number; audio time is seq * 20 ms
    # Which resume tokens (gateway/tokens.py, each with the dialog epoch it was issued under) may take the session:
    # those of the holding socket, from `holder_epoch` (the dialog epoch it reserved when it took the session) on;
    # until the holder is ready (its `session_start`, the first of its tokens, is on its way) also those from
    # `prior_epoch` on, the tokens of the last holder that was ready, so a resume cut before its `session_start`
    # can be tried again with the same token.
    holder_epoch: int = 0
    holder_ready: bool = False
    prior_epoch: int = 0

    def owner(self, kind: WorkerKind) -> KindOwner:
        return self.owners.get(kind, KindOwner())

    def reserve(self, kinds: tuple[WorkerKind, ...]) -> "SessionRecord":
        """A new epoch for each of `kinds` (the recorded owners stay, as the first worker to ask)."""
        owners = dict(self.owners)
        for kind in kinds:
            current = self.owner(kind)
            owners[kind] = KindOwner(current.worker_id, current.epoch + 1)
        return msgspec.structs.replace(self, owners=owners)

    def assign(self, kind: WorkerKind, worker_id: str) -> "SessionRecord":
        """`worker_id` took the session under the epoch reserved for `kind`."""
        return msgspec.structs.replace(self, owners={**self.owners, kind: KindOwner(worker_id, self.owner(kind).epoch)})

    def accepts(self, token_epoch: int) -> bool:
        """Whether a resume token issued under dialog epoch `token_epoch` may take the session over."""
        return token_epoch >= (self.holder_epoch if self.holder_ready else self.prior_epoch)

    def taken(self, epoch: int) -> "SessionRecord":
        """Taken over by a new socket that reserved dialog epoch `epoch`: the tokens this record accepts now stay
        accepted until the new holder is ready."""
        prior = self.holder_epoch if self.holder_ready else self.prior_epoch
        return msgspec.structs.replace(self, holder_epoch=epoch, holder_ready=False, prior_epoch=prior)

    def epochs(self) -> tuple[int, ...]:
        """The epoch of every worker kind, in WORKER_KINDS order."""
        return tuple(self.owner(kind).epoch for kind in WORKER_KINDS)


record_decoder = msgspec.json.Decoder(SessionRecord)
record_encoder = msgspec.json.Encoder()
