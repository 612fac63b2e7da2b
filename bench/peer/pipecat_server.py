"""The Pipecat peer of the system benchmark (runs in .bench/peer-venv, never imported by the project).

A minimal voice bot: FastAPI WebSocket transport, Pipecat's default Silero VAD, a user turn that starts on VAD
speech (with interruptions, Pipecat's default) and ends on a speech timeout, and a responder that answers every
turn with a 2 s tone; one pipeline per connection. Wire format, chosen to cost the peer as little as possible:
client sends binary raw PCM16LE mono 16 kHz; the server sends the bot audio as binary raw PCM16LE and
`{"type": "interrupted"}` as a text frame when Pipecat interrupts the bot.

Run: python pipecat_server.py PORT
"""

import math
import struct
import sys

import uvicorn
from fastapi import FastAPI, WebSocket
from pipecat.audio.vad.silero import SileroVADAnalyzer
from pipecat.frames.frames import (
    Frame,
    InputAudioRawFrame,
    InterruptionFrame,
    OutputAudioRawFrame,
    UserStoppedSpeakingFrame,
)
from pipecat.pipeline.pipeline import Pipeline
from pipecat.pipeline.runner import PipelineRunner
from pipecat.pipeline.task import PipelineParams, PipelineTask
from pipecat.processors.audio.vad_processor import VADProcessor
from pipecat.processors.frame_processor import FrameDirection, FrameProcessor
from pipecat.serializers.base_serializer import FrameSerializer
from pipecat.transports.websocket.fastapi import FastAPIWebsocketParams, FastAPIWebsocketTransport
from pipecat.turns.user_start import VADUserTurnStartStrategy
from pipecat.turns.user_stop.speech_timeout_user_turn_stop_strategy import SpeechTimeoutUserTurnStopStrategy
from pipecat.turns.user_turn_processor import UserTurnProcessor
from pipecat.turns.user_turn_strategies import UserTurnStrategies

RATE = 16000
INTERRUPTED = '{"type": "interrupted"}'


def tone(seconds: float = 2.0, hertz: float = 440.0) -> bytes:
    count = int(RATE * seconds)
    return struct.pack(f"<{count}h", *(int(8000 * math.sin(2 * math.pi * hertz * i / RATE)) for i in range(count)))


TONE = tone()


class RawPcmSerializer(FrameSerializer):
    async def serialize(self, frame: Frame) -> str | bytes | None:
        if isinstance(frame, OutputAudioRawFrame):
            return frame.audio
        if isinstance(frame, InterruptionFrame):
            return INTERRUPTED
        return None

    async def deserialize(self, data: str | bytes) -> Frame | None:
        if isinstance(data, bytes):
            return InputAudioRawFrame(audio=data, sample_rate=RATE, num_channels=1)
        return None


class ToneResponder(FrameProcessor):
    """At the end of every user turn, answer with a 2 s tone."""

    async def process_frame(self, frame: Frame, direction: FrameDirection) -> None:
        await super().process_frame(frame, direction)
        await self.push_frame(frame, direction)
        if isinstance(frame, UserStoppedSpeakingFrame):
            await self.push_frame(OutputAudioRawFrame(audio=TONE, sample_rate=RATE, num_channels=1))


app = FastAPI()


@app.websocket("/ws")
async def voice(websocket: WebSocket) -> None:
    await websocket.accept()
    params = FastAPIWebsocketParams(
        audio_in_enabled=True,
        audio_out_enabled=True,
        audio_in_sample_rate=RATE,
        audio_out_sample_rate=RATE,
        add_wav_header=False,
        serializer=RawPcmSerializer(),
    )
    transport = FastAPIWebsocketTransport(websocket=websocket, params=params)
    turns = UserTurnStrategies(
        start=[VADUserTurnStartStrategy()], stop=[SpeechTimeoutUserTurnStopStrategy(wait_for_transcript=False)]
    )
    pipeline = Pipeline(
        [
            transport.input(),
            VADProcessor(vad_analyzer=SileroVADAnalyzer()),
            UserTurnProcessor(user_turn_strategies=turns),
            ToneResponder(),
            transport.output(),
        ]
    )
    task = PipelineTask(pipeline, params=PipelineParams(audio_in_sample_rate=RATE, audio_out_sample_rate=RATE))

    @transport.event_handler("on_client_disconnected")
    async def on_client_disconnected(_transport: object, _ws: object) -> None:
        await task.cancel()

    await PipelineRunner(handle_sigint=False).run(task)


if __name__ == "__main__":
    uvicorn.run(app, host="127.0.0.1", port=int(sys.argv[1]), log_level="warning")
