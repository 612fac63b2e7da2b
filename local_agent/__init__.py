"""A local gRPC server speaking the Dialogflow CX v3 Sessions API offline (Whisper or pocketsphinx ASR, espeak-ng
TTS); docs/local_agent.md."""
