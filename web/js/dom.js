// Small DOM helpers, formatters and the panel's style sheet (no framework, no build step).
import { app } from "../../../scripts/app.js";

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
  return el;
}

export function section(title, testId, ...body) {
  return h("section", { className: "tl-section", dataset: { testid: testId } }, h("h3", {}, title), ...body);
}

export function fmt(value, digits = 1, unit = "") {
  if (value === null || value === undefined || Number.isNaN(value)) return "–";
  return typeof value === "number" ? `${value.toFixed(digits)}${unit}` : String(value);
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

const CSS = `
.tl-panel { padding: 8px 10px; font-size: 13px; display: flex; flex-direction: column; gap: 10px; overflow-y: auto; height: 100%; box-sizing: border-box; }
.tl-section { border: 1px solid var(--border-color, #444); border-radius: 6px; padding: 6px 8px; }
.tl-section h3 { margin: 0 0 6px; font-size: 13px; text-transform: uppercase; letter-spacing: .04em; opacity: .8; }
.tl-row { display: flex; gap: 6px; align-items: center; flex-wrap: wrap; margin: 3px 0; }
.tl-row label { min-width: 90px; opacity: .85; }
.tl-panel input, .tl-panel select, .tl-panel textarea { background: var(--comfy-input-bg, #222); color: var(--input-text, #ddd); border: 1px solid var(--border-color, #555); border-radius: 4px; padding: 2px 4px; }
.tl-panel input[type=text], .tl-panel input[type=password], .tl-panel textarea { flex: 1; min-width: 80px; }
.tl-panel button { background: var(--comfy-menu-bg, #333); color: var(--fg-color, #ddd); border: 1px solid var(--border-color, #555); border-radius: 4px; padding: 2px 8px; cursor: pointer; }
.tl-panel button:hover { filter: brightness(1.3); }
.tl-panel button.tl-primary { border-color: #3a8; }
.tl-state { font-weight: bold; padding: 1px 8px; border-radius: 10px; }
.tl-state-IDLE { background: #556; } .tl-state-LOADING { background: #a80; }
.tl-state-OK { background: #283; } .tl-state-ERROR { background: #a33; }
.tl-table { width: 100%; border-collapse: collapse; }
.tl-table td, .tl-table th { padding: 1px 4px; text-align: left; border-bottom: 1px solid var(--border-color, #333); }
.tl-preview { width: 100%; min-height: 60px; background: #111; border-radius: 4px; display: block; object-fit: contain; max-height: 260px; }
.tl-muted { opacity: .65; }
.tl-stream { border-top: 1px solid var(--border-color, #333); padding: 3px 0; }
.tl-preview:not([src]) { visibility: hidden; height: 60px; }
.tl-error { color: #f77; }
.tl-code { white-space: pre; font-family: monospace; font-size: 11px; background: #111; padding: 6px; border-radius: 4px; overflow-x: auto; }
.tl-events { max-height: 140px; overflow-y: auto; font-family: monospace; font-size: 11px; }
`;

export function installStyles() {
  if (document.getElementById("trickle-live-styles")) return;
  document.head.append(h("style", { id: "trickle-live-styles" }, CSS));
}
