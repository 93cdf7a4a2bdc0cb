// Test stream: run the current graph (or the saved live workflow) on the built-in test clip, an
// uploaded file or a webcam recording, through the same path as an orchestrator's stream, with the
// preview and the figures live; a stop button.
import { client } from "./api_client.js";
import { createClipSource } from "./clip_source.js";
import { currentGraph, hasStreamNodes } from "./graph.js";
import { fmt, h, keepFigures, reportError, section, toast } from "./dom.js";

export function createTestView({ settings, onChange }) {
  const source = h(
    "select",
    { dataset: { testid: "test-source" } },
    h("option", { value: "graph" }, "the current graph"),
    h("option", { value: "live" }, "the live workflow (saved default)"),
  );
  const figures = h("div", { className: "tl-muted", dataset: { testid: "test-figures" } }, "not running");
  const events = h("div", { className: "tl-events" });
  const startButton = h("button", { className: "tl-primary", onclick: () => start(), dataset: { testid: "test-start" } }, "▶ Start test stream");
  const stopButton = h("button", { onclick: () => stop(), dataset: { testid: "test-stop" }, disabled: true }, "■ Stop");
  const clip = createClipSource();
  let current = null;
  let lastStream = null; // the test stream's last figures from /trickle/status, kept once it ends
  let busy = false; // recording or uploading a clip: progress shows in the figures line

  async function start(kind = source.value) {
    try {
      const options = { seconds: settings.seconds(), fps: settings.fps(), ...settings.size() };
      if (kind === "graph") {
        const { api } = await currentGraph();
        if (!hasStreamNodes(api)) throw new Error("the graph needs a TrickleInput and a TrickleOutput node");
        options.workflow = api;
      }
      busy = startButton.disabled = true;
      try {
        Object.assign(options, await clip.prepare(options, (text) => { figures.textContent = text; }));
      } finally {
        busy = false;
      }
      current = await client.startTest(options);
      toast("info", "Test stream started", current.stream_id);
      render(current);
      onChange(current);
    } catch (err) {
      startButton.disabled = Boolean(current?.running);
      reportError("Test stream", err);
    }
  }

  async function stop() {
    try {
      render(await client.stopTest());
      onChange(current);
    } catch (err) {
      reportError("Stop test stream", err);
    }
  }

  function render(figs, stream) {
    current = figs;
    const running = Boolean(figs?.running);
    startButton.disabled = running || busy;
    stopButton.disabled = !running;
    if (busy) return;
    if (!figs || !figs.stream_id) {
      figures.textContent = "not running";
      return;
    }
    if (stream) lastStream = keepFigures(lastStream, stream);
    const s = stream || (lastStream?.stream_id === figs.stream_id ? lastStream : {});
    figures.dataset.state = running ? "running" : "ended";
    figures.textContent = [
      running ? "running" : "ended (last figures)",
      figs.stream_id,
      `${figs.size?.[0]}×${figs.size?.[1]} @ ${figs.fps} fps for ${figs.seconds}s`,
      `fps in/out ${fmt(s.fps_in)} / ${fmt(s.fps_out)}`,
      `latency p50 ${fmt(s.latency_ms?.p50, 0, " ms")}`,
      `frames out ${s.frames_out ?? "–"}`,
      `segments back ${figs.output_segments ?? 0}`,
      figs.error ? `error: ${figs.error}` : null,
    ].filter(Boolean).join(" · ");
    events.replaceChildren(...(figs.events || []).slice(-8).reverse().map((e) => h("div", {}, `${e.type}: ${e.msg || e.message || e.state || ""}${e.field ? ` (${e.field}: expected ${e.expected}, got ${JSON.stringify(e.received)})` : ""}`)));
  }

  async function refresh(status) {
    try {
      const figs = await client.testStatus();
      const stream = (status?.streams || []).find((s) => s.stream_id === figs.stream_id);
      render(figs, stream);
      return figs;
    } catch (err) {
      figures.textContent = err.message;
      return null;
    }
  }

  const el = section(
    "Test stream",
    "test-stream",
    h("div", { className: "tl-row" }, h("label", {}, "run"), source),
    clip.el,
    h("div", { className: "tl-row" }, startButton, stopButton),
    figures,
    events,
  );
  return { el, refresh, start, stop, running: () => Boolean(current?.running), streamId: () => current?.stream_id };
}
