"""`VOICECHAT_EVENT_LOOP` (shared/runtime.py): which loop a service runs on, and a clear error for anything else."""

import asyncio

import pytest
import uvloop

from shared.runtime import loop_factory
from shared.settings import GatewaySettings, SettingsError, load_settings


def test_uvloop_when_asked_else_asyncios_default() -> None:
    assert loop_factory(load_settings(GatewaySettings, {}).event_loop) is None
    factory = loop_factory(load_settings(GatewaySettings, {"VOICECHAT_EVENT_LOOP": "uvloop"}).event_loop)
    assert factory is uvloop.new_event_loop
    with asyncio.Runner(loop_factory=factory) as runner:
        assert isinstance(runner.get_loop(), uvloop.Loop)


def test_an_unknown_loop_is_refused_by_name() -> None:
    with pytest.raises(SettingsError, match="VOICECHAT_EVENT_LOOP"):
        load_settings(GatewaySettings, {"VOICECHAT_EVENT_LOOP": "trio"})
