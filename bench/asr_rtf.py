"""Benchmark of the local CX agent's own speech recognition: pocketsphinx real-time factor and per-turn time.

RTF = decoding time / audio duration over the test utterances (espeak-ng speech, voices other than the agent's),
fed in 20 ms chunks as the server does.
`python -m bench.asr_rtf [--full]` (full = 5 rounds). The per-turn time is ASR-final to response ready
(intent match plus TTS of the reply), the figure the server reports as `local_agent_processing_ms`.
"""

import statistics
import sys
import time

from harness.speech import chunks, speech_pcm
from local_agent import tts
from local_agent.agent import load_agent
from local_agent.asr import Recognizer, build_model
from local_agent.dialogue import AgentDialogue, SessionState

UTTERANCES = [
    ("show me running shoes under fifty dollars", "en+klatt"),
    ("tell me about product twelve", "en-us+f2"),
    ("how much is product three", "en-gb-x-rp"),
    ("hello", "en+klatt"),
    ("what can you do", "en+m3"),
    ("thank you goodbye", "en-us+f2"),
    ("find me sunglasses under one hundred dollars", "en-us+f2"),
    ("show me laptops under two thousand dollars", "en+klatt"),
]


def run(quick: bool = True) -> dict[str, float]:
    started = time.perf_counter()
    agent = load_agent()
    model = build_model(agent)
    startup = time.perf_counter() - started
    dialogue = AgentDialogue(agent)
    rounds = 1 if quick else 5
    audio_s = decode_s = 0.0
    turn_ms: list[float] = []
    right = 0
    for _ in range(rounds):
        for text, voice in UTTERANCES:
            pcm = speech_pcm(text, voice=voice)
            audio_s += len(pcm) / 32000
            begin = time.perf_counter()
            recognizer = Recognizer(model)
            for chunk in chunks(pcm):
                recognizer.feed([chunk])
            transcript, _ = recognizer.finish()
            decode_s += time.perf_counter() - begin
            right += transcript == text
            begin = time.perf_counter()
            outcome = dialogue.query(SessionState(), transcript)
            tts.synthesize(outcome.reply or "I found 5 results for shoes.", 16000, agent.spec.voice)
            turn_ms.append((time.perf_counter() - begin) * 1000)
    return {
        "asr_rtf": decode_s / audio_s,
        "asr_sentence_accuracy": right / (rounds * len(UTTERANCES)),
        "turn_processing_ms_median": statistics.median(turn_ms),
        "turn_processing_ms_max": max(turn_ms),
        "startup_s": startup,
    }


if __name__ == "__main__":
    for name, value in run(quick="--full" not in sys.argv).items():
        print(f"{name}: {value:.4f}")
