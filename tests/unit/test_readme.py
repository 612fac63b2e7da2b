"""The README documents every setting the services read."""

from pathlib import Path

import msgspec

from shared.settings import ENV_PREFIX, Settings

README = Path(__file__).resolve().parents[2] / "README.md"


def test_every_setting_is_in_the_readme() -> None:
    text = README.read_text()
    missing = [
        f"{ENV_PREFIX}{field.name.upper()}"
        for field in msgspec.structs.fields(Settings)
        if f"`{ENV_PREFIX}{field.name.upper()}`" not in text
    ]
    assert missing == []
