"""Dialog worker: per-session turns against Dialogflow CX (real client), tool calls, paced audio, barge-in."""
