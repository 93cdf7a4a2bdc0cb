// Small DOM helpers, formatters and the panel's style sheet (no framework, no build step).
// The panel wears the new frontend's own look: buttons and text fields get PrimeVue's classes (the
// frontend has their styles loaded), and every colour comes from the frontend's CSS variables.
import { app } from "../../../scripts/app.js";

const FIELD_TYPES = new Set(["text", "password", "number", "search", "url", undefined, ""]);

// PrimeVue's look for plain elements: secondary small buttons (tl-primary: the primary one, tl-danger:
// the danger one), text fields and selects as p-inputtext.
function frontendLook(el) {
  if (el.tagName === "BUTTON") {
    const kind = el.classList.contains("tl-primary") ? null : el.classList.contains("tl-danger") ? "p-button-danger" : "p-button-secondary";
    el.classList.add("p-button", "p-component", "p-button-sm", ...(kind ? [kind] : []));
  } else if ((el.tagName === "INPUT" && FIELD_TYPES.has(el.getAttribute("type") || "")) || el.tagName === "SELECT" || el.tagName === "TEXTAREA") {
    el.classList.add("p-inputtext", "p-component", "p-inputtext-sm");
  }
}

export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs || {})) {
    if (value === undefined || value === null || value === false) continue;
    if (key.startsWith("on")) el.addEventListener(key.slice(2).toLowerCase(), value);
    else if (key === "className") el.className = value;
    else if (key === "dataset") Object.assign(el.dataset, value);
    else if (key in el && typeof value !== "string") el[key] = value;
    else el.setAttribute(key, value === true ? "" : value);
  }
  for (const child of children.flat()) {
    if (child === null || child === undefined || child === false) continue;
    el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  frontendLook(el);
  return el;
}

export function section(title, testId, ...body) {
  return h("section", { className: "tl-section", dataset: { testid: testId } }, h("h3", {}, title), ...body);
}

export function fmt(value, digits = 1, unit = "") {
  if (value === null || value === undefined || Number.isNaN(value)) return "–";
  return typeof value === "number" ? `${value.toFixed(digits)}${unit}` : String(value);
}

// A stream's figures as last seen while it ran: a rate that fell to zero (or null) as the stream
// wound down keeps its earlier value, so an ended stream shows what it did, not dashes.
export function keepFigures(prev, next) {
  if (!prev || prev.stream_id !== next.stream_id) return next;
  const kept = (a, b) => (b === null || b === undefined || b === 0 ? a : b);
  return { ...next, fps_in: kept(prev.fps_in, next.fps_in), fps_out: kept(prev.fps_out, next.fps_out), latency_ms: next.latency_ms?.p50 ? next.latency_ms : prev.latency_ms };
}

export function duration(seconds) {
  if (seconds === null || seconds === undefined) return "–";
  const s = Math.floor(seconds);
  const m = Math.floor(s / 60);
  return m ? `${m}m ${String(s % 60).padStart(2, "0")}s` : `${s}s`;
}

export function toast(severity, summary, detail) {
  app.extensionManager?.toast?.add({ severity, summary, detail, life: severity === "error" ? 6000 : 3000 });
}

export function reportError(summary, err) {
  toast("error", summary, err?.message || String(err));
}

export async function copyText(text) {
  try {
    await navigator.clipboard.writeText(text);
  } catch {
    const area = h("textarea", { value: text });
    document.body.append(area);
    area.select();
    document.execCommand("copy");
    area.remove();
  }
}

// Colours only from the frontend's variables (PrimeVue's --p-* tokens, ComfyUI's --comfy-*); a
// literal appears only as a var() fallback (a test checks this).
const MUTED = "var(--p-text-muted-color, var(--descrip-text))";
const LINE = "var(--p-content-border-color, var(--border-color))";
const CSS = `
.tl-panel { display: flex; flex-direction: column; height: 100%; box-sizing: border-box; color: var(--p-text-color, var(--fg-color)); font-size: 13px; min-width: 0; }
.tl-header { min-height: 64px; display: flex; align-items: center; gap: 8px; padding: 0 8px; border-bottom: 1px solid ${LINE}; flex: none; }
.tl-header .tl-title { font-weight: bold; font-size: 14px; flex: 1; min-width: 0; overflow: hidden; text-overflow: ellipsis; white-space: nowrap; }
.tl-body { flex: 1; overflow-y: auto; overflow-x: hidden; padding: 0 8px 12px; min-width: 0; }
.tl-section { border-bottom: 1px solid ${LINE}; padding: 10px 0; min-width: 0; }
.tl-section h3 { margin: 0 0 8px; font-size: 12px; font-weight: 600; text-transform: uppercase; letter-spacing: .04em; color: ${MUTED}; }
.tl-row { display: flex; gap: 6px; align-items: center; flex-wrap: wrap; margin: 4px 0; min-width: 0; }
.tl-row > label { min-width: 84px; color: ${MUTED}; }
.tl-panel .p-inputtext { flex: 1 1 120px; min-width: 0; max-width: 100%; }
.tl-panel select.p-inputtext { flex: 1 1 160px; appearance: auto; }
.tl-panel .p-button { flex: none; }
.tl-panel input[type=range] { flex: 1 1 100px; min-width: 0; accent-color: var(--p-primary-color); }
.tl-panel input[type=checkbox] { accent-color: var(--p-primary-color); }
.tl-panel input[type=file] { max-width: 100%; min-width: 0; color: ${MUTED}; }
.tl-state { font-weight: 600; font-size: 12px; padding: 2px 8px; border-radius: 999px; background: var(--p-button-secondary-background); color: var(--p-button-secondary-color); }
.tl-state-LOADING { background: var(--p-amber-700, var(--p-button-secondary-background)); color: var(--p-text-color); }
.tl-state-OK { background: var(--p-green-700, var(--p-button-secondary-background)); color: var(--p-text-color); }
.tl-state-ERROR { background: var(--p-red-700, var(--p-button-secondary-background)); color: var(--p-text-color); }
.tl-kv { display: grid; grid-template-columns: minmax(0, 1fr) auto; gap: 2px 8px; padding: 5px 0; border-bottom: 1px solid ${LINE}; min-width: 0; }
.tl-kv:last-child { border-bottom: none; }
.tl-kv .tl-k { font-weight: 600; overflow-wrap: anywhere; min-width: 0; }
.tl-kv .tl-src { color: ${MUTED}; font-size: 11px; white-space: nowrap; text-align: right; }
.tl-kv .tl-v { grid-column: 1 / -1; font-family: var(--p-font-family-mono, monospace); font-size: 12px; white-space: pre-wrap; overflow-wrap: anywhere; min-width: 0; }
.tl-kv .tl-v.tl-muted { font-family: inherit; }
.tl-kv .tl-actions { display: flex; gap: 4px; flex-wrap: nowrap; align-items: center; }
.tl-preview { width: 100%; min-height: 60px; background: var(--p-form-field-background, var(--comfy-input-bg)); border-radius: var(--p-content-border-radius, 6px); display: block; object-fit: contain; max-height: 260px; }
.tl-preview:not([src]) { visibility: hidden; height: 60px; }
.tl-muted { color: ${MUTED}; }
.tl-stream { border-top: 1px solid ${LINE}; padding: 4px 0; }
.tl-ended { color: ${MUTED}; }
.tl-error { color: var(--p-red-400, var(--error-text)); overflow-wrap: anywhere; }
.tl-code { white-space: pre-wrap; overflow-wrap: anywhere; font-family: var(--p-font-family-mono, monospace); font-size: 11px; background: var(--p-form-field-background, var(--comfy-input-bg)); border: 1px solid ${LINE}; padding: 6px; border-radius: var(--p-content-border-radius, 6px); }
.tl-events { max-height: 140px; overflow-y: auto; font-family: var(--p-font-family-mono, monospace); font-size: 11px; overflow-wrap: anywhere; }
.tl-panel ul { margin: 4px 0; padding-left: 18px; }
`;

export function installStyles() {
  if (document.getElementById("trickle-live-styles")) return;
  document.head.append(h("style", { id: "trickle-live-styles" }, CSS));
}
