"""VAD worker: claims sessions; webrtcvad or batched Silero, a hysteresis smoother per session; speech events."""
