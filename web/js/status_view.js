// Runner state, active streams with their figures, and the recent events.
import { duration, fmt, h, keepFigures, section } from "./dom.js";

const MAX_EVENTS = 50;
const MAX_ENDED = 3; // ended streams kept with their last figures

function streamRow(s, onStop, sizes) {
  const size = sizes[s.stream_id] || "–";
  const stat = (label, value, field) => h("span", { dataset: { field } }, h("span", { className: "tl-muted" }, `${label} `), value);
  return h(
    "div",
    { className: `tl-stream${s.ended ? " tl-ended" : ""}`, dataset: { stream: s.stream_id, ended: s.ended ? "true" : null } },
    h("div", { className: "tl-row" }, h("b", { title: s.stream_id }, s.stream_id), h("span", { dataset: { field: "state" } }, s.ended ? `ended (last: ${s.state || "–"})` : s.state || "–"),
      s.ended ? null : h("button", { title: "Stop this stream", onclick: () => onStop(s.stream_id) }, "■ stop")),
    h(
      "div",
      { className: "tl-row" },
      stat("fps in/out", `${fmt(s.fps_in)} / ${fmt(s.fps_out)}`, "fps"),
      stat("latency", fmt(s.latency_ms?.p50, 0, " ms"), "latency"),
      stat("drops", String(s.drops ?? 0), "drops"),
      stat("size", size, "size"),
      stat("up", duration(s.uptime_s), "uptime"),
    ),
    s.last_error ? h("div", { className: "tl-error" }, s.last_error) : null,
  );
}

export function createStatusView({ onStop }) {
  const state = h("span", { className: "tl-state", dataset: { testid: "runner-state" } }, "…");
  const summary = h("span", { className: "tl-muted" });
  const lastError = h("div", { className: "tl-error", dataset: { testid: "last-error" } });
  const body = h("div", { dataset: { testid: "streams" } });
  const events = h("div", { className: "tl-events", dataset: { testid: "events" } });
  const log = [];
  let previous = {};
  let lastSeen = {}; // stream id -> its last figures, kept (as ended) once it is gone
  let ended = [];

  function addEvent(text) {
    log.unshift(`${new Date().toLocaleTimeString()}  ${text}`);
    log.length = Math.min(log.length, MAX_EVENTS);
    events.replaceChildren(...log.map((line) => h("div", {}, line)));
  }

  function noteChanges(status) {
    const now = {};
    for (const s of status.streams || []) {
      now[s.stream_id] = s.state;
      if (previous[s.stream_id] === undefined) addEvent(`stream ${s.stream_id} started (${s.model_id || "?"})`);
      else if (previous[s.stream_id] !== s.state) addEvent(`stream ${s.stream_id}: ${s.state}`);
      if (s.last_error && s.last_error !== previous[`${s.stream_id}:error`]) addEvent(`error in ${s.stream_id}: ${s.last_error}`);
      now[`${s.stream_id}:error`] = s.last_error;
    }
    for (const id of Object.keys(previous)) {
      if (!id.includes(":") && now[id] === undefined) {
        addEvent(`stream ${id} ended`);
        if (lastSeen[id]) ended = [{ ...lastSeen[id], ended: true }, ...ended.filter((e) => e.stream_id !== id)].slice(0, MAX_ENDED);
      }
    }
    previous = now;
    lastSeen = Object.fromEntries((status.streams || []).map((s) => [s.stream_id, keepFigures(lastSeen[s.stream_id], s)]));
  }

  function render(status, sizes = {}) {
    state.textContent = status.health;
    state.className = `tl-state tl-state-${status.health}`;
    summary.textContent = `model ${status.model_id} · v${status.version} · ${status.streams.length}/${status.capacity} streams · up ${duration(status.uptime_s)}`;
    lastError.textContent = status.last_error ? `last error: ${status.last_error}` : "";
    noteChanges(status);
    const active = new Set(status.streams.map((s) => s.stream_id));
    ended = ended.filter((e) => !active.has(e.stream_id));
    body.replaceChildren(...status.streams.map((s) => streamRow(s, onStop, sizes)));
    if (!status.streams.length) body.append(h("div", { className: "tl-muted" }, "no active stream"));
    body.append(...ended.map((s) => streamRow(s, onStop, sizes)));
  }

  const el = h(
    "div",
    {},
    section("Runner", "status", h("div", { className: "tl-row" }, summary), lastError, body),
    section("Recent events", "recent", events),
  );
  return { el, render, addEvent, badge: state };
}
