"""pocketsphinx streaming ASR with a domain language model built from the agent, and webrtcvad endpointing.

A frame counts as speech when webrtcvad says so and it is `GATE_DB` louder than the noise floor (which follows
the quietest frames down at once and creeps up slowly): in steady noise webrtcvad alone hears speech
everywhere and the utterance would never end.

`build_model` expands every training phrase with the product vocabulary and spoken numbers into a corpus,
builds an ARPA trigram model and a pronunciation dictionary limited to its words (a small dictionary makes a
decoder start in ~10 ms), and caches both in a temp directory keyed by the corpus digest. A `Recognizer` owns
one decoder (not thread-safe: one per stream, used from one worker thread at a time).
"""

import hashlib
import io
import itertools
import re
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import webrtcvad
from pocketsphinx import Config, Decoder, get_model_path
from pocketsphinx.lm import ArpaBoLM

from local_agent.agent import Agent
from local_agent.listening import Heard
from local_agent.numbers import number_to_words
from shared.audio import FRAME_BYTES, INTERNAL_RATE

_PRICES = [*range(5, 100, 5), *range(100, 1000, 50), *range(1000, 5001, 500)]
_IDS = range(1, 200)
SPEECH_START_FRAMES = 6
END_SILENCE_FRAMES = 30  # 600 ms of 20 ms frames
GATE_DB = 6.0
FLOOR_RISE_PER_FRAME = 1.005  # ~1 dB a second


@dataclass(frozen=True)
class AsrModel:
    lm_path: Path
    dict_path: Path

    def config(self) -> Config:
        return Config(lm=str(self.lm_path), dict=str(self.dict_path), loglevel="FATAL")


def _read_dictionary() -> dict[str, list[str]]:
    entries: dict[str, list[str]] = {}
    with open(get_model_path("en-us/cmudict-en-us.dict"), encoding="utf-8") as handle:
        for line in handle:
            word = line.split(" ", 1)[0]
            entries.setdefault(word.split("(", 1)[0], []).append(line)
    return entries


def _fill(phrase: str, values: dict[str, str]) -> str:
    return re.sub(r"\{(\w+)\}", lambda m: values[m.group(1)], phrase)


def corpus(agent: Agent, known: set[str] | dict[str, list[str]]) -> list[str]:
    """Training sentences, every phrase weighted alike: each is repeated once per product term, its slots
    cycling through the product terms, prices and product ids."""
    products = [term for term in agent.products if all(word in known for word in term.split())]
    prices = itertools.cycle(number_to_words(p) for p in _PRICES)
    ids = itertools.cycle(number_to_words(i) for i in _IDS)
    phrases = [phrase for intent in agent.spec.intents for phrase in intent.training_phrases]
    sentences: list[str] = []
    for phrase in [*phrases, *agent.spec.fallback.training_phrases]:
        for product in products:
            values = {"query": product, "max_price": next(prices), "product_id": next(ids)}
            sentences.append(_fill(phrase, values).lower())
    return sentences


def build_model(agent: Agent, cache_dir: Path | None = None) -> AsrModel:
    dictionary = _read_dictionary()
    sentences = [s for s in corpus(agent, dictionary) if all(word in dictionary for word in s.split())]
    text = "\n".join(sentences)
    digest = hashlib.sha256(text.encode()).hexdigest()[:16]
    folder = (cache_dir or Path(tempfile.gettempdir())) / f"voicechat-local-cx-{digest}"
    model = AsrModel(folder / "domain.arpa", folder / "domain.dict")
    if model.lm_path.exists() and model.dict_path.exists():
        return model
    folder.mkdir(parents=True, exist_ok=True)
    arpa = ArpaBoLM(text=text, add_start=True, discount_mass=0.1)
    arpa.compute()
    buffer = io.StringIO()
    arpa.write(buffer)
    words = sorted({word for sentence in sentences for word in sentence.split()})
    _write_atomic(model.dict_path, "".join(line for word in words for line in dictionary[word]))
    _write_atomic(model.lm_path, buffer.getvalue())
    return model


def _write_atomic(path: Path, content: str) -> None:
    temporary = path.with_suffix(path.suffix + ".tmp")
    temporary.write_text(content, encoding="utf-8")
    temporary.replace(path)


class Recognizer:
    """One utterance of streaming recognition: 20 ms frames in, partial hypotheses and end-of-speech out."""

    def __init__(self, model: AsrModel, vad_aggressiveness: int = 2) -> None:
        self.decoder = Decoder(model.config())
        self.vad = webrtcvad.Vad(vad_aggressiveness)
        self.voiced_frames = 0
        self.trailing_silence = 0
        self.audio_bytes = 0
        self.floor: float | None = None
        self.decoder.start_utt()

    @property
    def speech_ended(self) -> bool:
        return self.voiced_frames >= SPEECH_START_FRAMES and self.trailing_silence >= END_SILENCE_FRAMES

    def feed(self, frames: list[bytes]) -> str:
        """Decode 20 ms frames at 16 kHz; return the current hypothesis ("" when none yet)."""
        for frame in frames:
            self.audio_bytes += len(frame)
            voiced = len(frame) == FRAME_BYTES and self._above_floor(frame) and self.vad.is_speech(frame, INTERNAL_RATE)
            self.voiced_frames += voiced
            self.trailing_silence = 0 if voiced else self.trailing_silence + 1
            self.decoder.process_raw(frame, False, False)
        return self.hypothesis()

    def _above_floor(self, frame: bytes) -> bool:
        energy = max(float(np.mean(np.frombuffer(frame, dtype=np.int16).astype(np.float32) ** 2)), 1.0)
        floor = energy if self.floor is None else min(energy, self.floor * FLOOR_RISE_PER_FRAME)
        self.floor = floor
        return energy > floor * 10 ** (GATE_DB / 10)

    def hypothesis(self) -> str:
        hyp = self.decoder.hyp()
        return "" if hyp is None else str(hyp.hypstr)

    def finish(self) -> Heard:
        """End the utterance; return the final transcript and its posterior probability."""
        self.decoder.end_utt()
        hyp = self.decoder.hyp()
        if hyp is None:
            return Heard("", 0.0)
        return Heard(str(hyp.hypstr), float(hyp.prob))
