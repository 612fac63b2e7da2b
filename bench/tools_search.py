"""Benchmark of the tools service: searches/s and latency percentiles with 100 requests in flight against one
`python -m tools_worker` process, on the default DummyJSON catalog and on a 100,000-product synthetic catalog.

`python -m bench.tools_search [--full]`; `run(quick=True)` returns the figures.
"""

import asyncio
import json
import os
import random
import signal
import statistics
import sys
import tempfile
import time
from pathlib import Path

import nats
from nats.aio.client import Client as NATS

from harness.nats_server import NatsServer
from harness.ports import free_port
from shared.subjects import TOOLS_SERVICE, tools_endpoint
from tools_worker.catalog import load_catalog

IN_FLIGHT = 100
QUERIES = [
    {"query": "any sunglasses"},
    {"query": "laptops under two thousand", "max_price": 2000},
    {"query": "red lipstick"},
    {"query": "show me some perfumes", "limit": 10},
    {"query": "samsung phones", "category": "smartphones"},
    {"query": "women's watches"},
    {"query": "kitchen knives"},
    {"query": "running shoes under fifty dollars", "max_price": 50},
]
_PAYLOADS = [json.dumps(q).encode() for q in QUERIES]


def synthetic_catalog(path: Path, size: int, seed: int = 7) -> None:
    """`size` products mixing the real catalog's words, titles, brands, categories and tags, as JSONL."""
    rng = random.Random(seed)
    real = load_catalog()
    words = sorted({w for item in real for w in item.description.lower().replace(".", "").split()})
    with path.open("w") as out:
        for n in range(1, size + 1):
            base = rng.choice(real)
            title = f"{base.title} {rng.choice(words).title()} {n % 97}"
            description = " ".join(rng.choices(words, k=24))
            price = round(base.price * rng.uniform(0.5, 1.5), 2)
            record = {"id": n, "title": title, "price": price, "category": base.category, "brand": base.brand}
            record |= {"description": description, "tags": base.tags, "rating": round(rng.uniform(1, 5), 2)}
            out.write(json.dumps(record) + "\n")


async def _load(nc: NATS, total: int) -> tuple[float, list[float]]:
    latencies: list[float] = []
    counter = iter(range(total))
    subject = tools_endpoint("search_products")

    async def client() -> None:
        for n in counter:
            started = time.perf_counter()
            reply = await nc.request(subject, _PAYLOADS[n % len(_PAYLOADS)], timeout=10)
            latencies.append(time.perf_counter() - started)
            if reply.headers:
                raise RuntimeError(f"error answer: {reply.data!r}")

    started = time.perf_counter()
    await asyncio.gather(*(client() for _ in range(IN_FLIGHT)))
    return time.perf_counter() - started, latencies


async def _worker(nats_url: str, catalog: Path | None) -> asyncio.subprocess.Process:
    env = {**os.environ, "VOICECHAT_NATS_URL": nats_url, "VOICECHAT_METRICS_PORT": str(free_port())}
    env.pop("VOICECHAT_PRODUCTS_API", None)
    env["VOICECHAT_LOG_LEVEL"] = "WARNING"
    if catalog is not None:
        env["VOICECHAT_CATALOG"] = str(catalog)
    return await asyncio.create_subprocess_exec(sys.executable, "-m", "tools_worker", env=env)


async def _scenario(nats_url: str, catalog: Path | None, requests: int) -> dict[str, float]:
    proc = await _worker(nats_url, catalog)
    nc = await nats.connect(nats_url, pending_size=64 * 1024 * 1024)
    try:
        await _until_ready(nc)
        await _load(nc, min(requests, 500))  # warm-up
        elapsed, latencies = await _load(nc, requests)
    finally:
        await nc.close()
        proc.send_signal(signal.SIGTERM)
        await proc.wait()
    cuts = statistics.quantiles(latencies, n=100, method="inclusive")
    return {"searches_per_s": len(latencies) / elapsed, "p50_ms": cuts[49] * 1e3, "p99_ms": cuts[98] * 1e3}


async def _until_ready(nc: NATS) -> None:
    for _ in range(1200):  # building a 100k index takes a few seconds
        try:
            await nc.request(f"$SRV.PING.{TOOLS_SERVICE}", b"", timeout=0.5)
            return
        except (nats.errors.Error, TimeoutError):
            await asyncio.sleep(0.05)
    raise RuntimeError("tools_worker did not start")


async def _run(quick: bool) -> dict[str, float]:
    server = NatsServer().start()
    figures: dict[str, float] = {}
    try:
        with tempfile.TemporaryDirectory() as tmp:
            big = Path(tmp) / "synthetic.jsonl"
            synthetic_catalog(big, 100_000)
            for name, catalog, requests in (("default", None, 4000), ("synthetic_100k", big, 2000)):
                result = await _scenario(server.url, catalog, requests if quick else requests * 5)
                figures |= {f"{name}_{key}": value for key, value in result.items()}
    finally:
        server.close()
    return figures


def run(quick: bool = True) -> dict[str, float]:
    """Measure both catalogs, print a short table, return the figures."""
    figures = asyncio.run(_run(quick))
    print(f"tools_search ({IN_FLIGHT} requests in flight, one worker)")
    print(f"{'catalog':<16}{'searches/s':>12}{'p50 ms':>10}{'p99 ms':>10}")
    for name in ("default", "synthetic_100k"):
        rate, p50, p99 = (figures[f"{name}_{key}"] for key in ("searches_per_s", "p50_ms", "p99_ms"))
        print(f"{name:<16}{rate:>12.0f}{p50:>10.2f}{p99:>10.2f}")
    return figures


if __name__ == "__main__":
    run(quick="--full" not in sys.argv)
