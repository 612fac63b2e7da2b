"""`python -m bench.noise --tune`: the Silero threshold and start sweep on the `tune` split (how the defaults were
chosen: docs/benchmarks.md, "Noise"); without `--tune`, the same as `python -m bench noise`."""

import argparse

from bench.noise import corpus, offline, run

THRESHOLDS = ("0.3", "0.5", "0.6", "0.7", "0.8", "0.9")
STARTS_MS = ("32", "64", "96")


def tune() -> None:
    clips = [c for c in corpus.speech_clips(corpus.TUNE.name, per_condition=8) if c.snr_db in (5, 0)]
    print("threshold start_ms: within 200 ms per condition | false starts per minute of noise only (tune split)")
    for threshold in THRESHOLDS:
        for start in STARTS_MS:
            env = {
                "VOICECHAT_VAD_ENGINE": "silero",
                "VOICECHAT_VAD_SILERO_THRESHOLD": threshold,
                "VOICECHAT_VAD_SILERO_START_MS": start,
            }
            starts = {k: v["within_200ms"] for k, v in offline.speech_starts(clips, env).items()}
            false = {k: v["per_minute"] for k, v in offline.false_starts(corpus.TUNE.name, 60.0, env).items()}
            print(f"{threshold} {start}: {starts} | {false}", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--tune", action="store_true", help="sweep the Silero knobs on the tune split")
    parser.add_argument("--full", action="store_true", help="more clips, longer runs")
    args = parser.parse_args()
    if args.tune:
        tune()
    else:
        run(quick=not args.full)


if __name__ == "__main__":
    main()
