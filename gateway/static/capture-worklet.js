// AudioWorklet processor: cuts microphone input into 20 ms PCM16 frames and posts each with its RMS level.

class CaptureProcessor extends AudioWorkletProcessor {
  constructor(options) {
    super();
    this.size = options.processorOptions.frameSamples;
    this.startFrame();
  }

  startFrame() {
    this.frame = new Int16Array(this.size);
    this.fill = 0;
    this.energy = 0;
  }

  process(inputs) {
    const channel = inputs[0] && inputs[0][0];
    if (!channel) return true;
    for (let i = 0; i < channel.length; i += 1) {
      const s = Math.max(-1, Math.min(1, channel[i]));
      this.frame[this.fill] = s < 0 ? s * 0x8000 : s * 0x7fff;
      this.energy += s * s;
      this.fill += 1;
      if (this.fill === this.size) {
        const rms = Math.sqrt(this.energy / this.size);
        this.port.postMessage({ pcm: this.frame.buffer, rms }, [this.frame.buffer]);
        this.startFrame();
      }
    }
    return true;
  }
}

registerProcessor("voicechat-capture", CaptureProcessor);
