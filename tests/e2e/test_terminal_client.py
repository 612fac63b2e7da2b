"""`python -m voice_client` against the running stack: a WAV or text in, events and a response WAV out."""

import subprocess
import sys
import wave
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from harness.ports import free_port
from harness.procs import ROOT, wait_http
from harness.speech import utterance
from harness.stack import FULL_STACK, Stack, running_stack
from shared.audio import Samples

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def stack() -> Iterator[Stack]:
    with running_stack(FULL_STACK) as running:
        wait_http(running.gateway.base_url + "/readyz", timeout=60)
        yield running


def speech(rate: int) -> Samples:
    return utterance("show me running shoes under fifty dollars", rate, voice="en-us+f2", lead_ms=500, tail_ms=1000)


def ws_url(stack: Stack) -> str:
    return stack.gateway.base_url.replace("http://", "ws://") + "/ws/voice-chat"


def write_wav(path: Path, samples: Samples, rate: int, channels: int = 1) -> Path:
    with wave.open(str(path), "wb") as out:
        out.setnchannels(channels)
        out.setsampwidth(2)
        out.setframerate(rate)
        out.writeframes(np.repeat(samples, channels).tobytes())
    return path


def client(*args: str | Path, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "voice_client", *map(str, args)]
    return subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=timeout, check=False)


def events(stdout: str) -> list[str]:
    return [line.split(" ", 1)[0] for line in stdout.splitlines()]


def read_wav(path: Path) -> tuple[int, int]:
    with wave.open(str(path), "rb") as wav:
        assert wav.getnchannels() == 1 and wav.getsampwidth() == 2
        return wav.getframerate(), wav.getnframes()


def test_spoken_wav_in_events_and_response_wav_out(stack: Stack, tmp_path: Path) -> None:
    wav = write_wav(tmp_path / "question.wav", speech(48000), 48000)
    out = tmp_path / "answer.wav"
    done = client("--url", ws_url(stack), "--wav", wav, "--out", out, "--fast")
    assert done.returncode == 0, done.stderr + done.stdout
    kinds = events(done.stdout)
    for kind in ("session_start", "speech_started", "speech_ended", "transcript", "tool_result", "response_text"):
        assert kind in kinds
    assert kinds[-1] == "audio_end"
    assert 'intent {"turn_id": 1, "name": "search_products"' in done.stdout
    assert '"resume_token": "<redacted>"' in done.stdout  # a credential: never printed
    chunks = [line for line in done.stdout.splitlines() if line.startswith("audio_response ")]
    assert chunks and all("samples>" in line and len(line) < 200 for line in chunks)  # summarised, not dumped
    answer_rate, samples = read_wav(out)
    assert answer_rate == 16000 and samples > answer_rate  # more than a second of spoken answer
    assert "turn completed" in done.stderr


def test_stereo_44k_wav_with_barge_in(stack: Stack, tmp_path: Path) -> None:
    wav = write_wav(tmp_path / "question.wav", speech(44100), 44100, channels=2)
    out = tmp_path / "answer.wav"
    done = client("--url", ws_url(stack), "--wav", wav, "--out", out, "--barge-in-after-ms", "300")
    assert done.returncode == 0, done.stderr + done.stdout
    kinds = events(done.stdout)
    assert "search_products" in done.stdout
    assert kinds.index("audio_response") < kinds.index(">") < kinds.index("interrupted")
    assert "audio_end" not in kinds
    assert 0 < read_wav(out)[1] < 3 * 16000  # the answer is much longer: the rest was never sent


def test_typed_text_with_barge_in(stack: Stack, tmp_path: Path) -> None:
    out = tmp_path / "answer.wav"
    done = client(
        "--url", ws_url(stack), "--text", "tell me about product twelve", "--out", out, "--barge-in-after-ms", "0"
    )
    assert done.returncode == 0, done.stderr + done.stdout
    assert 'intent {"turn_id": 1, "name": "product_details", "confidence": 1.0, "parameters": {"product_id": 12}}' in (
        done.stdout
    )
    kinds = events(done.stdout)
    assert kinds[-1] == "interrupted" and ">" in kinds  # chunks already in flight may come between the two
    assert "turn interrupted" in done.stderr


def test_error_event_exits_non_zero(stack: Stack, tmp_path: Path) -> None:
    done = client("--url", ws_url(stack), "--text", "x" * 2001, "--out", tmp_path / "none.wav")
    assert done.returncode == 1
    assert 'error {"code": "invalid_message"' in done.stdout


def test_no_answer_in_time_exits_non_zero(stack: Stack, tmp_path: Path) -> None:
    silence = write_wav(tmp_path / "silence.wav", np.zeros(16000, np.int16), 16000)
    done = client("--url", ws_url(stack), "--wav", silence, "--timeout", "1", "--fast", "--out", tmp_path / "a.wav")
    assert done.returncode == 3
    assert "timed out" in done.stderr


def test_unusable_inputs_and_unreachable_servers(tmp_path: Path) -> None:
    odd_rate = write_wav(tmp_path / "odd.wav", np.zeros(2205, np.int16), 22050)
    done = client("--wav", odd_rate)
    assert done.returncode == 2 and "22050 Hz" in done.stderr
    nobody = client("--url", f"ws://127.0.0.1:{free_port()}/ws/voice-chat", "--text", "hello")
    assert nobody.returncode == 4 and "cannot talk to" in nobody.stderr
