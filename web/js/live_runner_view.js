// The go-livepeer live runner (v0.9+): its own port, sessions, heartbeat (dynamic registration),
// and the exact runners.json entry and POST /registerLiveRunners command (static registration),
// each with a copy button. Everything comes from /trickle/status -> live_runner (no secret in it).
import { copyText, h, section, toast } from "./dom.js";

function copyButton(testId, what, text) {
  return h("button", { dataset: { testid: testId }, onclick: async () => { await copyText(text()); toast("success", "Copied", what); } }, "Copy");
}

function heartbeatText(hb) {
  if (!hb) return "dynamic registration off (set TRICKLE_LR_ORCH_URL and TRICKLE_LR_ORCH_SECRET)";
  const state = hb.registered ? `registered as ${hb.runner_id || "?"}, status ${hb.status || "?"}` : "not registered";
  const err = hb.last_error ? ` · last error: ${hb.last_error}` : "";
  return `heartbeat to ${hb.orchestrator}: ${state} · ${hb.heartbeats} heartbeats, ${hb.failures} failures${err}`;
}

export function createLiveRunnerView() {
  const summary = h("div", { className: "tl-row", dataset: { testid: "lr-summary" } }, "…");
  const heartbeat = h("div", { className: "tl-muted", dataset: { testid: "lr-heartbeat" } });
  const entry = h("div", { className: "tl-code", dataset: { testid: "lr-runners-json" } });
  const command = h("div", { className: "tl-code", dataset: { testid: "lr-register-command" } });
  const flags = h("div", { className: "tl-muted", dataset: { testid: "lr-orchestrator" } });
  const details = h(
    "div",
    { hidden: true },
    heartbeat,
    h("div", { className: "tl-row" }, h("b", {}, "runners.json (static registration)"), copyButton("lr-copy-entry", "runners.json", () => entry.textContent)),
    entry,
    h("div", { className: "tl-row" }, h("b", {}, "or register on the running orchestrator"), copyButton("lr-copy-command", "registerLiveRunners command", () => command.textContent)),
    command,
    flags,
  );
  let shown = "";

  function render(status) {
    const lr = status.live_runner || {};
    if (!lr.enabled) {
      summary.textContent = `off: ${lr.error || lr.how || "not configured"}`;
      details.hidden = true;
      return;
    }
    const reg = lr.registration || {};
    const sessions = (lr.sessions || []).length;
    summary.textContent = `${reg.runner_url} · app ${reg.app} · port ${lr.port} · health ${lr.health} · sessions ${sessions}/${lr.config?.capacity ?? "?"} · refused busy ${lr.refused_busy ?? 0}`;
    heartbeat.textContent = heartbeatText(lr.heartbeat);
    const text = JSON.stringify(reg.runners_json, null, 2);
    if (text !== shown) {
      shown = text; // leave the text alone between refreshes, so it can be selected
      entry.textContent = text;
      command.textContent = reg.register_command || "";
      flags.textContent = `orchestrator: livepeer ${reg.orchestrator_flags || ""} · ${reg.pricing || ""}`;
    }
    details.hidden = false;
  }

  const note = h(
    "div",
    { className: "tl-muted" },
    "Served on its own port, never on ComfyUI's: the orchestrator proxies any path to a runner. Requests carrying Livepeer-Runner-Route or Livepeer-Session-Id are refused on ComfyUI's port.",
  );
  const el = section("Live runner (go-livepeer v0.9+)", "live-runner", summary, details, note);
  return { el, render };
}
