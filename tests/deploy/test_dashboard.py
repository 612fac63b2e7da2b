"""The committed dashboard JSON is exactly what deploy/grafana/dashboard.py generates."""

import json

from deploy.grafana import dashboard


def test_committed_json_is_up_to_date() -> None:
    assert dashboard.OUTPUT.read_text() == dashboard.render(), "run: .venv/bin/python -m deploy.grafana.dashboard"


def test_every_panel_queries_prometheus() -> None:
    panels = [panel for panel in json.loads(dashboard.render())["panels"] if panel["type"] != "row"]
    assert len({panel["id"] for panel in panels}) == len(panels)
    for panel in panels:
        assert panel["targets"] and all(target["expr"] for target in panel["targets"]), panel["title"]
