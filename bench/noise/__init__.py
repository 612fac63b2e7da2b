"""`make bench BENCH_ARGS=noise` (or `python -m bench noise`): both VAD engines over the noise set, figures in
.bench/noise.json, .bench/noise.md and .bench/noise-starts.png (docs/benchmarks.md, "Noise").

Everything reported is on the `eval` split (bench/noise/corpus.py); `python -m bench.noise --tune` prints the sweep
over the `tune` split from which the Silero defaults were chosen.
"""

import json
from pathlib import Path
from typing import Any

from bench.noise import corpus, offline, stack

ENGINES = ("webrtc", "silero")
OUT = Path(".bench")
TARGET_SNR = 5


def _env(engine: str) -> dict[str, str]:
    return {"VOICECHAT_VAD_ENGINE": engine}


def run(quick: bool = True) -> dict[str, Any]:
    clips = corpus.speech_clips(corpus.EVAL.name, per_condition=10 if quick else 40)
    noise_s = 60.0 if quick else 300.0
    figures: dict[str, Any] = {"split": corpus.EVAL.name, "clips": len(clips), "noise_only_s": noise_s}
    for engine in ENGINES:
        starts = offline.speech_starts(clips, _env(engine))
        false = offline.false_starts(corpus.EVAL.name, noise_s, _env(engine))
        figures[engine] = {"speech_starts": starts, "false_starts": false}
        _print_offline(engine, starts, false)
    sessions, seconds = (16, 120.0) if quick else (24, 600.0)
    figures["interruptions"] = [stack.false_interruptions(engine, sessions, seconds) for engine in ENGINES]
    for run_ in figures["interruptions"]:
        _print_stack(run_)
    figures["targets"] = targets(figures)
    for name, value in figures["targets"].items():
        print(f"target {name}: {value}")
    OUT.mkdir(exist_ok=True)
    (OUT / "noise.json").write_text(json.dumps(figures, indent=2))
    (OUT / "noise.md").write_text(report(figures))
    plot(figures, OUT / "noise-starts.png")
    print(f"saved {OUT / 'noise.json'}, {OUT / 'noise.md'}, {OUT / 'noise-starts.png'}")
    return figures


def targets(figures: dict[str, Any]) -> dict[str, str]:
    """The issue's Silero targets, met or not, from the figures."""
    starts = figures["silero"]["speech_starts"]
    at_target = [v for k, v in starts.items() if k.endswith(f"@{TARGET_SNR}dB")]
    within = sum(v["within_200ms"] * v["clips"] for v in at_target) / sum(v["clips"] for v in at_target)
    by_noise = {k.split("@")[0]: v["within_200ms"] for k, v in starts.items() if k.endswith(f"@{TARGET_SNR}dB")}
    silero = next(r for r in figures["interruptions"] if r["engine"] == "silero")
    events = {k: v for k, v in silero["per_noise"].items() if k in corpus.EVENTS}
    minutes = sum(v["bot_speech_min"] for v in events.values())
    confirmed = sum(v["interrupted"] for v in events.values())
    rate = 10 * confirmed / minutes if minutes else float("nan")
    per_kind = ", ".join(f"{kind} {row['interrupted']}" for kind, row in events.items())
    return {
        "speech at 5 dB starts within 200 ms in >= 95% of clips": (
            f"{'met' if within >= 0.95 else 'NOT met'}: {within:.1%} ({by_noise})"
        ),
        "noise-only clips during answers < 1 confirmed interruption / 10 min": (
            f"{'met' if rate < 1 else 'NOT met'}: {rate:.2f} per 10 min over {minutes:.1f} min of bot speech "
            f"({per_kind})"
        ),
    }


def _print_offline(engine: str, starts: dict[str, Any], false: dict[str, Any]) -> None:
    print(f"{engine}: speech start within 200 ms (early = a false start on the lead noise, p50 latency)")
    for condition, row in starts.items():
        print(
            f"  {condition:>12}: {row['within_200ms']:.0%} within 200 ms, {row['detected']:.0%} detected, "
            f"{row['early']} early, {row['missed']} missed, p50 {row['latency_ms_p50']} ms"
        )
    print(f"  false starts per minute of noise only: { {k: v['per_minute'] for k, v in false.items()} }")
    print(f"  share of noise-only time in speech: { {k: v['speech_share'] for k, v in false.items()} }")


def _print_stack(result: dict[str, Any]) -> None:
    print(
        f"{result['engine']} through the stack: {result['bot_speech_min']} min of bot speech with noise, "
        f"{result['confirmed']} confirmed interruptions ({result['confirmed_per_10_min']} per 10 min), "
        f"{result['paused']} paused, {result['taken_back']} taken back; per noise: "
        f"{ {k: v['interrupted'] for k, v in result['per_noise'].items()} }"
    )


def report(figures: dict[str, Any]) -> str:
    lines = [f"# VAD in noise ({figures['split']} split, {figures['clips']} speech clips)", ""]
    lines += ["## Speech start within 200 ms of onset (early / missed)", ""]
    lines += ["| condition | " + " | ".join(ENGINES) + " |"]
    lines.append("|---|" + "---|" * len(ENGINES))
    for condition in figures["silero"]["speech_starts"]:
        cells = []
        for engine in ENGINES:
            row = figures[engine]["speech_starts"][condition]
            early, missed, p50 = row["early"], row["missed"], row["latency_ms_p50"]
            cells.append(f"{row['within_200ms']:.0%} ({early} / {missed}, p50 {p50} ms)")
        lines.append(f"| {condition} | " + " | ".join(cells) + " |")
    lines += ["", f"## False starts per minute of noise only ({figures['noise_only_s']:.0f} s each)", ""]
    lines += ["| noise | " + " | ".join(ENGINES) + " |", "|---|" + "---|" * len(ENGINES)]
    for name in corpus.NOISE_ONLY:
        rows = [figures[e]["false_starts"][name] for e in ENGINES]
        cells = [f"{row['per_minute']} ({row['speech_share']:.0%} of the time in speech)" for row in rows]
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    lines += ["", "## Interruptions of the bot by noise, through the whole stack", ""]
    lines += ["| noise | " + " | ".join(f"{e}: confirmed / paused / taken back (answers)" for e in ENGINES) + " |"]
    lines.append("|---|" + "---|" * len(ENGINES))
    runs = {r["engine"]: r for r in figures["interruptions"]}
    for name in corpus.NOISE_ONLY:
        cells = []
        for engine in ENGINES:
            row = runs[engine]["per_noise"][name]
            cells.append(f"{row['interrupted']} / {row['paused']} / {row['resumed']} ({row['answers']})")
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    lines += ["", "## Targets (silero)", ""] + [f"- {k}: {v}" for k, v in figures["targets"].items()]
    return "\n".join(lines) + "\n"


def plot(figures: dict[str, Any], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(corpus.BACKGROUNDS), figsize=(12, 3.5), sharey=True)
    for axis, name in zip(axes, corpus.BACKGROUNDS, strict=True):
        for engine in ENGINES:
            rows = figures[engine]["speech_starts"]
            values = [rows[f"{name}@{snr}dB"]["within_200ms"] for snr in corpus.SNRS_DB]
            axis.plot(corpus.SNRS_DB, values, "o-", label=engine)
        axis.set_title(name)
        axis.set_xlabel("SNR (dB)")
        axis.invert_xaxis()
    axes[0].set_ylabel("speech start within 200 ms")
    axes[0].legend()
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
