"""The conversation log: what each session said and got, on a JetStream stream (docs/conversation_log.md)."""
