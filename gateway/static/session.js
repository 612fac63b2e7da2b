// Protocol v1 WebSocket session: JSON events in, JSON and binary audio out, automatic reconnect that
// resumes the same session with its latest resume token. Credentials never go in the URL: they are offered as
// WebSocket subprotocols next to `voicechat.v1` (docs/protocol.md, "Authentication").

export const SAMPLE_RATES = [8000, 16000, 32000, 44100, 48000];
export const PROTOCOL = "voicechat.v1";
const BACKOFF_MS = [250, 500, 1000, 2000, 4000, 8000];
const CLOSE_WORDS = {
  1008: "The server refused the connection (not authorised, origin not allowed, or too many requests).",
  1009: "A message was too large for the server.",
  1011: "The server hit an internal error.",
  1013: "The service is overloaded; retrying shortly.",
};

function closeWords(code) {
  return CLOSE_WORDS[code] || `The connection was lost (close code ${code}).`;
}

export class VoiceSession {
  /** `handlers`: onEvent(event), onState(state, detail), onProblem(words). */
  constructor({ sampleRate, language, token }, handlers) {
    this.params = { sampleRate, language, token };
    this.handlers = handlers;
    this.ws = null;
    this.wanted = false;
    this.attempt = 0;
    this.timer = null;
    this.resume = null;
    this.started = false;
    this.dropResume = false;
  }

  get ready() {
    return this.started && this.ws !== null && this.ws.readyState === WebSocket.OPEN;
  }

  start() {
    this.wanted = true;
    this.attempt = 0;
    this.open();
  }

  stop() {
    this.wanted = false;
    clearTimeout(this.timer);
    const ws = this.ws;
    if (ws && ws.readyState === WebSocket.OPEN) {
      ws.send(JSON.stringify({ type: "end_session" }));
      ws.close(1000, "user disconnected");
    } else if (ws) {
      ws.close();
    }
    this.ws = null;
    this.started = false;
    this.resume = null;
    this.handlers.onState("idle");
  }

  sendJson(message) {
    if (!this.ready) return false;
    this.ws.send(JSON.stringify(message));
    return true;
  }

  sendAudio(buffer) {
    if (!this.ready) return false;
    this.ws.send(buffer);
    return true;
  }

  url() {
    const scheme = location.protocol === "https:" ? "wss:" : "ws:";
    const query = new URLSearchParams({ sample_rate: String(this.params.sampleRate), language: this.params.language });
    return `${scheme}//${location.host}/ws/voice-chat?${query}`;
  }

  protocols() {
    const offered = [PROTOCOL];
    if (this.params.token) offered.push(`bearer.${this.params.token}`);
    if (this.resume) offered.push(`resume.${this.resume}`);
    return offered;
  }

  open() {
    this.handlers.onState(this.resume ? "reconnecting" : "connecting");
    const ws = new WebSocket(this.url(), this.protocols());
    ws.binaryType = "arraybuffer";
    ws.onmessage = (message) => this.received(message.data);
    ws.onclose = (event) => this.closed(ws, event.code);
    this.ws = ws;
  }

  received(data) {
    if (typeof data !== "string") return;
    let event;
    try {
      event = JSON.parse(data);
    } catch (error) {
      this.handlers.onProblem(`The server sent something that is not JSON (${error.message}).`);
      return;
    }
    if (event.type === "session_start" || event.type === "resume_token") this.resume = event.resume_token;
    if (event.type === "session_start") {
      this.started = true;
      this.attempt = 0;
      this.handlers.onState("connected", event);
    } else if (event.type === "error" && event.code === "session_not_found") {
      this.dropResume = true;
    }
    this.handlers.onEvent(event);
  }

  closed(ws, code) {
    if (ws !== this.ws) return;
    this.ws = null;
    this.started = false;
    if (!this.wanted) return;
    if (this.dropResume) {
      this.dropResume = false;
      this.resume = null;
    } else if (code === 1000 || code === 1008) {
      this.wanted = false;
      this.handlers.onProblem(code === 1000 ? "The server ended the session." : closeWords(code));
      this.handlers.onState("idle");
      return;
    } else if (code !== 1001) {
      this.handlers.onProblem(`${closeWords(code)} Reconnecting…`);
    }
    this.retry(code === 1001 && this.attempt === 0 ? 0 : BACKOFF_MS[Math.min(this.attempt, BACKOFF_MS.length - 1)]);
  }

  retry(delayMs) {
    this.attempt += 1;
    this.handlers.onState("reconnecting");
    this.timer = setTimeout(() => this.open(), delayMs);
  }
}
