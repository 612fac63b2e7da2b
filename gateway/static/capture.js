// Microphone capture: getUserMedia (echo cancellation on) into the capture worklet, 20 ms PCM16 frames out.

const loaded = new WeakSet();

export const FRAME_MS = 20;

async function loadWorklet(ctx) {
  if (loaded.has(ctx)) return;
  await ctx.audioWorklet.addModule(new URL("./capture-worklet.js", import.meta.url));
  loaded.add(ctx);
}

/** Start capturing; `onFrame(pcm: ArrayBuffer, rms: number)` gets every frame. Resolves to a stop function. */
export async function startCapture(ctx, onFrame) {
  // Echo cancellation keeps the answer's own audio out of the microphone (barge-in depends on it). Noise
  // suppression and automatic gain stay off: they distort speech and cost recognition accuracy, and the
  // recogniser copes with noise better on its own (Google's speech-to-text best practice says the same).
  const stream = await navigator.mediaDevices.getUserMedia({
    audio: { echoCancellation: true, noiseSuppression: false, autoGainControl: false, channelCount: 1 },
  });
  try {
    await loadWorklet(ctx);
  } catch (error) {
    stream.getTracks().forEach((track) => track.stop());
    throw error;
  }
  const source = ctx.createMediaStreamSource(stream);
  const node = new AudioWorkletNode(ctx, "voicechat-capture", {
    numberOfInputs: 1,
    numberOfOutputs: 1,
    outputChannelCount: [1],
    channelCount: 1,
    channelCountMode: "explicit",
    processorOptions: { frameSamples: Math.round((ctx.sampleRate * FRAME_MS) / 1000) },
  });
  // The worklet's output is silent; a muted path to the destination keeps the node pulled by the graph.
  const mute = new GainNode(ctx, { gain: 0 });
  node.port.onmessage = (event) => onFrame(event.data.pcm, event.data.rms);
  source.connect(node).connect(mute).connect(ctx.destination);
  return () => {
    node.port.onmessage = null;
    source.disconnect();
    node.disconnect();
    mute.disconnect();
    stream.getTracks().forEach((track) => track.stop());
  };
}
