"""A local gRPC server speaking the Dialogflow CX v3 Sessions API offline (pocketsphinx ASR, espeak-ng TTS)."""
