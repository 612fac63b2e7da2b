// The test page's wiring: buttons and form to session, microphone and player; events to the view.
// Exposes `window.voicechatStats = {sent, received, played}` (audio samples) for tests.

import { startCapture } from "./capture.js";
import { Player, decodePcm16 } from "./player.js";
import { SAMPLE_RATES, VoiceSession } from "./session.js";
import * as view from "./view.js";

const BARGE_IN_RMS = 0.02; // about -34 dBFS: speech, not the echo-cancelled residue of the bot's voice
const BARGE_IN_FRAMES = 3; // 60 ms of loud microphone frames while the answer plays

const stats = { sent: 0, received: 0, played: 0 };
window.voicechatStats = stats;

const ui = {
  connect: document.getElementById("connect"),
  mic: document.getElementById("mic"),
  bargeIn: document.getElementById("barge-in"),
  form: document.getElementById("text-form"),
  input: document.getElementById("text-input"),
  send: document.getElementById("send"),
};
const state = { ctx: null, player: null, session: null, stopCapture: null, micBusy: false };
const turn = { id: 0, audioId: 0, bargedId: 0, loudFrames: 0 };

function audioContext() {
  if (state.ctx) return state.ctx;
  let ctx = new AudioContext({ latencyHint: "interactive" });
  if (!SAMPLE_RATES.includes(ctx.sampleRate)) {
    ctx.close();
    ctx = new AudioContext({ latencyHint: "interactive", sampleRate: 48000 });
  }
  state.ctx = ctx;
  state.player = new Player(ctx, stats, (playback, queuedMs) => {
    view.showPlayback(playback, queuedMs);
    ui.bargeIn.disabled = playback !== "playing";
  });
  return ctx;
}

function newTurn(turnId) {
  if (turnId <= turn.id) return;
  turn.id = turnId;
  view.clearTurn();
}

function onAudio(event) {
  const samples = decodePcm16(event.data);
  stats.received += samples.length;
  newTurn(event.turn_id);
  if (event.turn_id !== turn.audioId) {
    turn.audioId = event.turn_id;
    view.log("←", `audio_response turn ${event.turn_id} (first chunk; later chunks not logged)`);
  }
  state.player.enqueue(event.turn_id, samples, event.sample_rate);
}

function onEvent(event) {
  if (event.type === "audio_response") return onAudio(event);
  view.log("←", JSON.stringify(event));
  if (event.turn_id !== undefined && event.type !== "error") newTurn(event.turn_id);
  switch (event.type) {
    case "transcript":
      return view.showTranscript(event.text, event.is_final);
    case "intent":
      return view.showIntent(event);
    case "tool_result":
      return view.showProducts(event.output);
    case "response_text":
      return view.showResponse(event.text);
    case "interrupted":
      return state.player.interrupt(event.turn_id);
    case "error":
      return view.showError(view.errorWords(event));
    default:
      return undefined;
  }
}

function onState(name, detail) {
  view.showStatus(name, detail);
  const open = state.session !== null && name !== "idle";
  if (!open) state.session = null;
  ui.connect.textContent = open ? "Disconnect" : "Connect";
  ui.mic.disabled = !open;
  ui.send.disabled = name !== "connected";
  if (!open) stopMic();
}

function bargeIn(reason) {
  turn.bargedId = state.player.turnId;
  turn.loudFrames = 0;
  if (state.session) state.session.sendJson({ type: "barge_in" });
  view.log("→", `barge_in (${reason})`);
  state.player.interrupt(turn.bargedId);
}

function onFrame(pcm, rms) {
  if (state.session && state.session.sendAudio(pcm)) stats.sent += pcm.byteLength / 2;
  const speaking = state.player.active && state.player.turnId > turn.bargedId;
  turn.loudFrames = speaking && rms >= BARGE_IN_RMS ? turn.loudFrames + 1 : 0;
  if (turn.loudFrames >= BARGE_IN_FRAMES) bargeIn("you spoke during the answer");
}

function stopMic() {
  if (!state.stopCapture) return;
  state.stopCapture();
  state.stopCapture = null;
  ui.mic.setAttribute("aria-pressed", "false");
  ui.mic.textContent = "Start microphone";
}

async function toggleMic() {
  view.showError("");
  if (state.stopCapture) return stopMic();
  if (state.micBusy) return undefined;
  state.micBusy = true;
  try {
    state.stopCapture = await startCapture(audioContext(), onFrame);
    ui.mic.setAttribute("aria-pressed", "true");
    ui.mic.textContent = "Stop microphone";
  } catch (error) {
    view.showError(`The microphone could not be opened: ${error.message}`);
  } finally {
    state.micBusy = false;
  }
  return undefined;
}

// A JWT for this page comes in the address fragment (`/test#token=...`), which browsers never send to a server;
// it is read once and removed from the address bar and history.
let fragmentToken = null;
function pageToken() {
  const fragment = new URLSearchParams(location.hash.slice(1));
  if (fragment.has("token")) {
    fragmentToken = fragment.get("token");
    history.replaceState(null, "", location.pathname + location.search);
  }
  return fragmentToken;
}

async function toggleConnect() {
  view.showError("");
  if (state.session) return state.session.stop();
  const ctx = audioContext();
  await ctx.resume();
  const query = new URLSearchParams(location.search);
  const params = { sampleRate: ctx.sampleRate, language: query.get("language") || "en-US", token: pageToken() };
  state.session = new VoiceSession(params, { onEvent, onState, onProblem: view.showError });
  state.session.start();
  return undefined;
}

function submitText(event) {
  event.preventDefault();
  const text = ui.input.value.trim();
  if (!text) return;
  if (!state.session || !state.session.sendJson({ type: "text_input", text })) {
    view.showError("Not connected yet: press Connect first.");
    return;
  }
  view.showError("");
  view.log("→", `text_input ${JSON.stringify(text)}`);
  ui.input.value = "";
}

ui.connect.addEventListener("click", toggleConnect);
ui.mic.addEventListener("click", toggleMic);
ui.bargeIn.addEventListener("click", () => bargeIn("button"));
ui.form.addEventListener("submit", submitText);
document.addEventListener("keydown", (event) => {
  if (event.key === "Escape" && state.player && state.player.active) bargeIn("Escape key");
});
window.addEventListener("pagehide", () => state.session && state.session.stop());
