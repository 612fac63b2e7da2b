"""Per-session-path agent state, bounded by count (LRU) and idle time (TTL)."""

import time
from collections import OrderedDict

from local_agent.dialogue import SessionState


class SessionStore:
    def __init__(self, max_sessions: int = 10_000, ttl_s: float = 3600.0) -> None:
        self.max_sessions = max_sessions
        self.ttl_s = ttl_s
        self._items: OrderedDict[str, tuple[float, SessionState]] = OrderedDict()

    def get(self, path: str, now: float | None = None) -> SessionState | None:
        """The live state of `path`, refreshed, or None when unknown or expired."""
        now = time.monotonic() if now is None else now
        self._expire(now)
        item = self._items.get(path)
        if item is None:
            return None
        self._items[path] = (now, item[1])
        self._items.move_to_end(path)
        return item[1]

    def get_or_create(self, path: str, now: float | None = None) -> SessionState:
        now = time.monotonic() if now is None else now
        state = self.get(path, now)
        if state is None:
            state = SessionState()
            self._items[path] = (now, state)
            while len(self._items) > self.max_sessions:
                self._items.popitem(last=False)
        return state

    def _expire(self, now: float) -> None:
        while self._items:
            path, (seen, _) = next(iter(self._items.items()))
            if now - seen < self.ttl_s:
                return
            del self._items[path]

    def __len__(self) -> int:
        return len(self._items)
