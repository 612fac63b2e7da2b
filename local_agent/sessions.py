"""Per-session-path agent state in SQLite (WAL), bounded by count (least recently used) and idle time (TTL).

The file lives under the run directory (`VOICECHAT_RUN_DIR/local_agent/sessions.sqlite3`), so a restarted
agent carries on every conversation where it was: context parameters, the tool call it waits for, the last
results (docs/local_agent.md, "State"). Times are wall-clock seconds: they must mean the same after a restart.
"""

import sqlite3
import time
from pathlib import Path

import msgspec

from local_agent.dialogue import SessionState

_SCHEMA = "CREATE TABLE IF NOT EXISTS sessions (path TEXT PRIMARY KEY, seen REAL NOT NULL, state BLOB NOT NULL)"
_encoder = msgspec.json.Encoder()
_decoder = msgspec.json.Decoder(SessionState)


def store_path(run_dir: str | Path) -> Path:
    return Path(run_dir) / "local_agent" / "sessions.sqlite3"


class SessionStore:
    def __init__(self, path: Path | None = None, max_sessions: int = 10_000, ttl_s: float = 3600.0) -> None:
        self.max_sessions = max_sessions
        self.ttl_s = ttl_s
        if path is not None:
            path.parent.mkdir(parents=True, exist_ok=True)
        self.db = sqlite3.connect(":memory:" if path is None else path, isolation_level=None)
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.execute("PRAGMA synchronous=NORMAL")
        self.db.execute(_SCHEMA)
        self.db.execute("CREATE INDEX IF NOT EXISTS sessions_seen ON sessions (seen)")

    def get(self, path: str, now: float | None = None) -> SessionState | None:
        """The live state of `path`, refreshed, or None when unknown or expired."""
        now = time.time() if now is None else now
        self.db.execute("DELETE FROM sessions WHERE seen <= ?", (now - self.ttl_s,))
        row = self.db.execute("SELECT state FROM sessions WHERE path = ?", (path,)).fetchone()
        if row is None:
            return None
        self.db.execute("UPDATE sessions SET seen = ? WHERE path = ?", (now, path))
        return _decoder.decode(row[0])

    def get_or_create(self, path: str, now: float | None = None) -> SessionState:
        now = time.time() if now is None else now
        state = self.get(path, now)
        if state is None:
            state = SessionState()
            self.save(path, state, now)
            self._evict()
        return state

    def save(self, path: str, state: SessionState, now: float | None = None) -> None:
        now = time.time() if now is None else now
        self.db.execute(
            "INSERT INTO sessions (path, seen, state) VALUES (?, ?, ?) "
            "ON CONFLICT (path) DO UPDATE SET seen = excluded.seen, state = excluded.state",
            (path, now, _encoder.encode(state)),
        )

    def _evict(self) -> None:
        self.db.execute(
            "DELETE FROM sessions WHERE path IN (SELECT path FROM sessions ORDER BY seen DESC LIMIT -1 OFFSET ?)",
            (self.max_sessions,),
        )

    def close(self) -> None:
        self.db.close()

    def __len__(self) -> int:
        return int(self.db.execute("SELECT count(*) FROM sessions").fetchone()[0])
