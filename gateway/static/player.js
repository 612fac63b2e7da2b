// Response audio playback through Web Audio: a ~100 ms jitter buffer, exact counts of played samples,
// an interrupt that drops every queued sample at once, and a pause that keeps them (docs/protocol.md: paused,
// resumed): what was not heard yet is kept, and played on, from the same sample, on resume.

const JITTER_S = 0.1;
const LATE_S = 0.005;

/** Base64 PCM16LE mono to Float32 samples. */
export function decodePcm16(base64) {
  const bytes = Uint8Array.from(atob(base64), (c) => c.charCodeAt(0));
  const view = new DataView(bytes.buffer);
  const samples = new Float32Array(bytes.length >> 1);
  for (let i = 0; i < samples.length; i += 1) samples[i] = view.getInt16(i * 2, true) / 0x8000;
  return samples;
}

/** PCM16 samples (an Int16Array over a binary frame: little-endian, as every browser is) to Float32 samples. */
export function pcm16ToFloat(pcm) {
  const samples = new Float32Array(pcm.length);
  for (let i = 0; i < pcm.length; i += 1) samples[i] = pcm[i] / 0x8000;
  return samples;
}

export class Player {
  /** `stats.played` grows as samples really play; `onChange(state, queuedMs)` after every change. */
  constructor(ctx, stats, onChange) {
    this.ctx = ctx;
    this.stats = stats;
    this.onChange = onChange;
    this.queue = [];
    this.nextAt = 0;
    this.cutTurn = 0;
    this.turnId = 0;
    this.held = null; // while paused: { turnId, chunks: [{ samples, rate }] } not yet heard, in order
  }

  get active() {
    return this.queue.length > 0;
  }

  queuedMs() {
    const now = this.ctx.currentTime;
    return Math.round(this.queue.reduce((ms, item) => ms + (item.end - Math.max(now, item.at)) * 1000, 0));
  }

  /** Schedule one chunk; chunks of a turn at or before the last interrupted one are dropped. */
  enqueue(turnId, samples, rate) {
    if (turnId <= this.cutTurn || samples.length === 0) return false;
    if (this.held && this.held.turnId === turnId) {
      this.held.chunks.push({ samples, rate });
      return true;
    }
    const buffer = this.ctx.createBuffer(1, samples.length, rate);
    buffer.copyToChannel(samples, 0);
    const now = this.ctx.currentTime;
    if (this.nextAt < now + LATE_S) this.nextAt = now + JITTER_S; // first chunk or underrun: refill the buffer
    const source = new AudioBufferSourceNode(this.ctx, { buffer });
    source.connect(this.ctx.destination);
    const item = { source, at: this.nextAt, end: this.nextAt + buffer.duration, count: samples.length, rate };
    item.samples = samples;
    source.onended = () => this.finished(item);
    source.start(item.at);
    this.nextAt = item.end;
    this.turnId = turnId;
    this.queue.push(item);
    this.changed("playing");
    return true;
  }

  finished(item) {
    this.queue = this.queue.filter((other) => other !== item);
    this.stats.played += item.count;
    this.changed(this.queue.length ? "playing" : "idle");
  }

  /** Stop now: count what already sounded, drop the rest, ignore later chunks of `turnId`. */
  interrupt(turnId = this.turnId) {
    this.cutTurn = Math.max(this.cutTurn, turnId);
    if (this.held && this.held.turnId <= turnId) this.held = null;
    const dropped = this.stopQueued().length;
    this.changed("interrupted");
    return dropped;
  }

  /** Stop playing `turnId` but keep what was not heard yet (and its later chunks) for `resume`. */
  pause(turnId) {
    if (turnId <= this.cutTurn || this.held) return;
    const rest = this.stopQueued().filter((chunk) => chunk.samples.length > 0);
    this.held = { turnId, chunks: rest };
    this.changed("paused");
  }

  /** Play the held audio of `turnId` on, from the first sample not heard. */
  resume(turnId) {
    if (!this.held || this.held.turnId !== turnId) return;
    const { chunks } = this.held;
    this.held = null;
    for (const chunk of chunks) this.enqueue(turnId, chunk.samples, chunk.rate);
    if (!chunks.length) this.changed("idle");
  }

  /** Stop every scheduled chunk, count what sounded; returns what was not heard, per chunk, in order. */
  stopQueued() {
    const now = this.ctx.currentTime;
    const rest = [];
    for (const item of this.queue) {
      item.source.onended = null;
      item.source.stop();
      item.source.disconnect();
      const heard = Math.max(0, Math.min(item.count, Math.round((now - item.at) * item.rate)));
      this.stats.played += heard;
      rest.push({ samples: item.samples.subarray(heard), rate: item.rate });
    }
    this.queue = [];
    this.nextAt = 0;
    return rest;
  }

  changed(state) {
    this.onChange(state, this.queuedMs());
  }
}
