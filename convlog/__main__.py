"""`python -m convlog export --since 7d [--until now] > log.jsonl` and `python -m convlog report --since 7d`.

Reads the conversation log stream on the NATS of `VOICECHAT_NATS_URL` (docs/conversation_log.md).
"""

import argparse
import asyncio
import datetime
import sys
from collections.abc import Sequence

import nats
import nats.errors

from convlog.report import build, render
from convlog.timerange import parse_time
from shared.convlog.records import AnyRecord, encoder
from shared.convlog.stream import read_range
from shared.settings import CommonSettings, SettingsError, load_settings


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m convlog", description=__doc__.splitlines()[0] if __doc__ else "")
    commands = parser.add_subparsers(dest="command", required=True)
    for name, help_text in (("export", "records of a time range as JSON lines"), ("report", "a summary report")):
        command = commands.add_parser(name, help=help_text)
        command.add_argument("--since", default="30d", help="ISO 8601 time or an age (24h, 7d); default 30d")
        command.add_argument("--until", default="now", help="ISO 8601 time, an age, or now (default)")
    report = commands.choices["report"]
    report.add_argument("--top", type=int, default=10, help="rows in the top lists (default 10)")
    report.add_argument("--json", action="store_true", help="the report as one JSON object")
    return parser


async def _records(url: str, since: datetime.datetime, until: datetime.datetime) -> list[AnyRecord]:
    servers = [u.strip() for u in url.split(",") if u.strip()]
    nc = await nats.connect(servers, connect_timeout=5, max_reconnect_attempts=2)
    try:
        return [record async for record in read_range(nc.jetstream(), since, until)]
    finally:
        await nc.close()


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    now = datetime.datetime.now(datetime.UTC)
    try:
        settings = load_settings(CommonSettings)
        since, until = parse_time(args.since, now), parse_time(args.until, now)
    except (SettingsError, ValueError) as exc:
        print(f"convlog: {exc}", file=sys.stderr)
        return 2
    try:
        records = asyncio.run(_records(settings.nats_url, since, until))
    except (nats.errors.Error, OSError) as exc:
        print(f"convlog: cannot read the log from {settings.nats_url}: {exc or type(exc).__name__}", file=sys.stderr)
        return 1
    if args.command == "export":
        for record in records:
            sys.stdout.write(encoder.encode(record).decode() + "\n")
        return 0
    report = build(records, top=args.top)
    print(encoder.encode(report).decode() if args.json else render(report))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
