// DOM rendering of what the session shows: status, transcript, intent, products, answer, errors, event log.

const ERROR_WORDS = {
  invalid_message: "The server could not understand a message from this page.",
  unsupported_audio: "The server could not use the microphone audio.",
  message_too_large: "A message was too large for the server.",
  rate_limited: "Too much at once (audio, messages, turns or sessions); some of it was refused.",
  unauthorized: "Not authorised: open this page with a valid #token= at the end of its address.",
  session_not_found: "The previous session has expired; starting a new one.",
  dialog_unavailable: "The assistant is unavailable right now. Try again shortly.",
  turn_failed: "The assistant could not answer that. Please try again.",
  tool_failed: "The product lookup failed. Please try again.",
  overloaded: "The service is busy. Try again in a moment.",
  internal: "Something went wrong on the server.",
};
const STATUS_WORDS = {
  idle: "Disconnected",
  connecting: "Connecting…",
  reconnecting: "Reconnecting…",
  connected: "Connected",
};
const LOG_LINES = 60;
const price = new Intl.NumberFormat("en-US", { style: "currency", currency: "USD" });

const $ = (id) => document.getElementById(id);

function element(tag, className, text) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text !== undefined) node.textContent = text;
  return node;
}

export function errorWords(event) {
  const words = ERROR_WORDS[event.code] || `The server reported an error (${event.code}).`;
  return event.message ? `${words} (${event.message})` : words;
}

export function showStatus(state, detail) {
  const status = $("status");
  status.dataset.state = state;
  const resumed = state === "connected" && detail && detail.resumed ? " (session resumed)" : "";
  status.textContent = (STATUS_WORDS[state] || state) + resumed;
}

export function showError(words) {
  const error = $("error");
  error.textContent = words || "";
  error.hidden = !words;
}

export function showTranscript(text, isFinal) {
  const transcript = $("transcript");
  transcript.textContent = text;
  transcript.dataset.final = String(isFinal);
}

function showValue(list, name, value) {
  list.append(element("dt", "", name), element("dd", "", typeof value === "string" ? value : JSON.stringify(value)));
}

export function showIntent(event) {
  $("intent").textContent = event.name;
  const params = $("intent-params");
  params.replaceChildren();
  for (const [name, value] of Object.entries(event.parameters || {})) showValue(params, name, value);
  showValue(params, "confidence", Number(event.confidence).toFixed(2));
}

function thumbnail(product) {
  const box = element("div", "thumb", "No image");
  if (!product.thumbnail) return box;
  const img = document.createElement("img");
  img.alt = product.title;
  img.loading = "lazy";
  img.decoding = "async";
  img.referrerPolicy = "no-referrer";
  img.hidden = true;
  img.addEventListener("load", () => {
    img.hidden = false;
    box.firstChild.remove();
  });
  img.addEventListener("error", () => img.remove());
  img.src = product.thumbnail;
  box.append(img);
  return box;
}

function productCard(product) {
  const card = element("li", "product-card");
  card.dataset.testid = "product-card";
  card.dataset.productId = String(product.id);
  card.append(
    thumbnail(product),
    element("h3", "", product.title),
    element("p", "price", price.format(product.price)),
    element("p", "category", product.category),
  );
  return card;
}

/** Product cards from a `tool_result` output: `products` (search) or `product` (details). */
export function showProducts(output) {
  const products = output.products || (output.product ? [output.product] : []);
  const list = $("products");
  list.replaceChildren(...products.map(productCard));
  if (!products.length) list.append(element("li", "empty", "No matching products."));
}

export function showResponse(text) {
  $("response").textContent = text;
}

export function showPlayback(state, queuedMs) {
  const playback = $("playback");
  playback.dataset.state = state;
  playback.dataset.queuedMs = String(queuedMs);
  playback.textContent = `Audio: ${state}`;
}

export function clearTurn() {
  showTranscript("", false);
  $("intent").textContent = "";
  $("intent-params").replaceChildren();
  $("products").replaceChildren();
  showResponse("");
}

export function log(direction, summary) {
  const list = $("log");
  list.append(element("li", "", `${direction} ${summary}`));
  while (list.childElementCount > LOG_LINES) list.firstElementChild.remove();
}
