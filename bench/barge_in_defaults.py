"""The figures behind the barge-in defaults (`VOICECHAT_BARGE_IN_MIN_SPEECH_MS`, `_RESUME_TIMEOUT_MS`, README).

For noise bursts (cough-like and white, 100-300 ms, seeds other than the end-to-end test's) and short and long
spoken phrases (espeak-ng voices) played over silence, it reports what the dialog worker will see: the speech
duration the VAD worker reports (end offset - start offset, with the VAD settings in force) and how long after the
VAD's start the local agent's recogniser first hears words (its first non-empty partial hypothesis), if ever.

Run: `.venv/bin/python -m bench.barge_in_defaults` (a few seconds; the local agent's ASR model is built once).
"""

import numpy as np

from harness.speech import noise_burst, utterance
from local_agent.agent import load_agent
from local_agent.asr import AsrModel, Recognizer, build_model
from shared.audio import FRAME_BYTES, Samples, array_to_pcm
from shared.settings import VadSettings, load_settings
from vad_worker.smoother import SpeechEnd, SpeechStart
from vad_worker.worker import make_detector

BATCH_FRAMES = 5  # the dialog worker streams 100 ms per request
PHRASES = [("stop", "en-us+f2"), ("wait", "en+klatt"), ("no", "en-gb-x-rp"), ("hold on", "en+m3")]
PHRASES += [("hello what can you do", "en+klatt"), ("show me running shoes", "en-gb-x-rp")]


def cough(burst_ms: int, seed: int) -> Samples:
    """Low-passed noise with a 10 ms attack and a 60 ms decay."""
    rng = np.random.default_rng(seed)
    n = 16 * burst_ms
    shaped = np.convolve(rng.standard_normal(n), np.ones(6) / 6, "same")
    envelope = np.minimum(1, np.arange(n) / 160) * np.exp(-np.arange(n) / 960)
    burst = shaped * envelope / np.abs(shaped * envelope).max() * 12000
    return np.concatenate([np.zeros(4800), burst, np.zeros(16000)]).astype(np.int16)


def measure(samples: Samples, model: AsrModel) -> tuple[int | None, int | None]:
    """(VAD speech duration ms, ms from the VAD's start to the first words), None when absent."""
    detector = make_detector(load_settings(VadSettings, {}))
    recognizer = Recognizer(model)
    pcm = array_to_pcm(samples)
    frames = [pcm[i : i + FRAME_BYTES] for i in range(0, len(pcm) - FRAME_BYTES + 1, FRAME_BYTES)]
    start_ms = end_ms = heard_at = None
    started_seq = 0
    for seq, frame in enumerate(frames):
        for event in detector.feed(seq, frame):
            if isinstance(event, SpeechStart) and start_ms is None:
                start_ms, started_seq = event.offset_ms, seq
            elif isinstance(event, SpeechEnd) and end_ms is None:
                end_ms = event.offset_ms
        if seq % BATCH_FRAMES == BATCH_FRAMES - 1 and heard_at is None and recognizer.feed(frames[seq - 4 : seq + 1]):
            heard_at = (seq + 1) * 20
    duration = None if start_ms is None or end_ms is None else end_ms - start_ms
    words = None if heard_at is None or start_ms is None else heard_at - (started_seq + 1) * 20
    return duration, words


def main() -> None:
    model = build_model(load_agent())
    rows = []
    for burst_ms in (100, 150, 200, 300):
        for seed in (11, 12, 13):
            rows.append((f"cough {burst_ms} ms #{seed}", cough(burst_ms, seed)))
            rows.append((f"white {burst_ms} ms #{seed}", noise_burst(16000, burst_ms, seed=seed, tail_ms=1000)))
    rows += [(f"'{text}' {voice}", utterance(text, 16000, voice)) for text, voice in PHRASES]
    print(f"{'clip':34} {'VAD speech ms':>14} {'words after VAD start ms':>26}")
    for label, samples in rows:
        duration, words = measure(samples, model)
        print(
            f"{label:34} {duration if duration is not None else '-':>14} {words if words is not None else 'never':>26}"
        )


if __name__ == "__main__":
    main()
