"""The recognition engines chosen by `VOICECHAT_LOCAL_CX_ASR` (docs/local_agent.md, "Recognition").

- `pocketsphinx`: the domain-LM decoder does everything (partials, endpoint, final) - fast, brittle off its data.
- `whisper` (default): the same decoder gives the interim hypotheses and webrtcvad the end of speech while the
  audio is kept (at most `MAX_AUDIO_S`); the final transcript is one Whisper pass over the utterance. An
  utterance the VAD never heard as speech (silence, a click) is not sent to Whisper at all.
"""

import numpy as np

from local_agent.asr import SPEECH_START_FRAMES, AsrModel, Recognizer
from local_agent.listening import Heard, Recognition
from local_agent.whisper import Transcriber
from shared.audio import INTERNAL_RATE

MAX_AUDIO_S = 60
_MAX_BYTES = MAX_AUDIO_S * INTERNAL_RATE * 2


class PocketsphinxListener:
    name = "pocketsphinx"

    def __init__(self, model: AsrModel) -> None:
        self.model = model

    def open(self) -> Recognition:
        return Recognizer(self.model)


class WhisperListener:
    name = "whisper"

    def __init__(self, model: AsrModel, transcriber: Transcriber) -> None:
        self.model = model
        self.transcriber = transcriber

    def open(self) -> Recognition:
        return _WhisperRecognition(Recognizer(self.model), self.transcriber)


class _WhisperRecognition:
    def __init__(self, interim: Recognizer, transcriber: Transcriber) -> None:
        self.interim = interim
        self.transcriber = transcriber
        self.audio = bytearray()

    @property
    def speech_ended(self) -> bool:
        return self.interim.speech_ended

    def feed(self, frames: list[bytes]) -> str:
        room = _MAX_BYTES - len(self.audio)
        if room > 0:
            self.audio += b"".join(frames)[:room]
        return self.interim.feed(frames)

    def finish(self) -> Heard:
        if self.interim.voiced_frames < SPEECH_START_FRAMES:
            return Heard("", 0.0)
        usable = len(self.audio) - len(self.audio) % 2
        return self.transcriber.transcribe(np.frombuffer(bytes(self.audio[:usable]), dtype=np.int16))
