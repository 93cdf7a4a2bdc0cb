// The Trickle Live sidebar panel: assembles the views and refreshes them while it is visible.
import { client } from "./api_client.js";
import { h, installStyles, reportError } from "./dom.js";
import { createLiveRunnerView } from "./live_runner_view.js";
import { createParamsView } from "./params_view.js";
import { createPreviewView } from "./preview_view.js";
import { createProbesView } from "./probes_view.js";
import { createSetupView } from "./setup_view.js";
import { createStatusView } from "./status_view.js";
import { createTestView } from "./test_view.js";
import { createWorkflowsView } from "./workflows_view.js";

export function createPanel(settings) {
  installStyles();
  const preview = createPreviewView();
  const status = createStatusView({ onStop: stopStream });
  const test = createTestView({ settings, onChange: () => refresh() });
  const params = createParamsView({ target: updateTarget });
  const workflows = createWorkflowsView();
  const setup = createSetupView();
  const probes = createProbesView();
  const liveRunner = createLiveRunnerView();
  // Laid out like the frontend's own sidebar tabs: a title bar, then the scrolling sections.
  const header = h("div", { className: "tl-header" }, h("span", { className: "tl-title" }, "Trickle Live"), status.badge);
  const body = h("div", { className: "tl-body" }, status.el, preview.el, test.el, params.el, workflows.el, setup.el, probes.el, liveRunner.el);
  const root = h("div", { className: "tl-panel", dataset: { testid: "trickle-live-panel" } }, header, body);
  let lastStatus = null;
  let timers = [];

  function updateTarget() {
    if (test.running()) return { label: "the test stream", send: (u) => client.updateTest(u) };
    const id = preview.current();
    if (id) return { label: id, send: (u) => client.updateStream(id, u) };
    return null;
  }

  async function stopStream(id) {
    try {
      if (id === test.streamId() && test.running()) await test.stop();
      else await client.stopStream(id);
      await refresh();
    } catch (err) {
      reportError("Stop stream", err);
    }
  }

  async function refresh() {
    try {
      lastStatus = await client.status();
    } catch (err) {
      status.addEvent(`status unavailable: ${err.message}`);
      return;
    }
    status.render(lastStatus, preview.sizes);
    probes.render(lastStatus);
    liveRunner.render(lastStatus);
    const figs = await test.refresh(lastStatus);
    const ids = lastStatus.streams.map((s) => s.stream_id);
    const testId = figs?.running ? figs.stream_id : null;
    preview.setStream(testId && ids.includes(testId) ? testId : ids[ids.length - 1] || null);
    params.refresh();
  }

  function visible() {
    return root.isConnected && root.offsetParent !== null;
  }

  function start() {
    stop();
    refresh();
    workflows.refresh();
    setup.refresh();
    timers.push(setInterval(() => visible() && refresh(), settings.refreshMs()));
    timers.push(setInterval(() => visible() && preview.tick(), 1000 / settings.previewFps()));
  }

  function stop() {
    timers.forEach(clearInterval);
    timers = [];
  }

  return { el: root, start, stop, refresh, test, workflows };
}
