"""The README documents every setting the services read."""

from pathlib import Path

import msgspec

from shared.settings import ALL_SETTINGS, ENV_PREFIX

README = Path(__file__).resolve().parents[2] / "README.md"


def test_every_setting_is_in_the_readme() -> None:
    text = README.read_text()
    names = {f"{ENV_PREFIX}{field.name.upper()}" for kind in ALL_SETTINGS for field in msgspec.structs.fields(kind)}
    missing = sorted(name for name in names if f"`{name}`" not in text)
    assert missing == []
