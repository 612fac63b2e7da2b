"""VAD worker: claims sessions, runs webrtcvad with a hysteresis smoother per session, emits speech events."""
