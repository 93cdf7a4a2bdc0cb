// Orchestrator probes: when /health, /version and /hardware/info were last called, from where and
// what was answered, and what the orchestrator will therefore advertise (verify registration here:
// the public capabilities dashboard only lists nodes one public gateway knows, all as "Warm").
import { h, section } from "./dom.js";

const KINDS = ["health", "version", "hardware/info"];

function ago(ms) {
  if (!ms) return "never";
  const s = Math.max(0, Math.round((Date.now() - ms) / 1000));
  return s < 120 ? `${s}s ago` : `${Math.round(s / 60)}m ago`;
}

function answerText(answer) {
  if (!answer || typeof answer !== "object") return String(answer ?? "–");
  return Object.entries(answer)
    .filter(([, v]) => v !== null && v !== undefined)
    .map(([k, v]) => `${k}=${typeof v === "object" ? JSON.stringify(v) : v}`)
    .join(" ");
}

export function createProbesView() {
  const summary = h("div", { dataset: { testid: "advertised" } }, "…");
  const table = h("div", { dataset: { testid: "probes" } });
  const checks = h("ul", { className: "tl-muted", dataset: { testid: "probe-checks" } });
  const note = h(
    "div",
    { className: "tl-muted" },
    "The public capabilities dashboard only lists orchestrators one public gateway discovered and marks every entry Warm; a local or offchain orchestrator never appears there. Check the probes here instead.",
  );

  function render(status) {
    const adv = status.advertised || {};
    const byKind = {};
    for (const probe of Object.values(status.probes || {})) {
      const kind = KINDS.find((k) => probe.path === `/${k}` || probe.path?.endsWith(`/${k}`));
      if (kind && (!byKind[kind] || byKind[kind].time < probe.time)) byKind[kind] = probe;
    }
    const who = adv.orchestrator ? `${adv.orchestrator.remote} (${adv.orchestrator.user_agent || "?"})` : "nobody yet";
    summary.replaceChildren(
      h("div", { dataset: { field: "gate" } }, `health gate: ${adv.health_gate || "not seen"}`),
      h("div", { dataset: { field: "capability" } }, `advertises ${adv.capability || "–"}`),
      h("div", { dataset: { field: "version" } }, `runner version ${adv.runner_version || "–"}`),
      h("div", { className: "tl-muted" }, `probed by ${who}`),
    );

    // One block per probe: path and when on a line, then who and the token, then the whole answer
    // (wrapped, never cut off).
    table.replaceChildren(
      ...KINDS.map((kind) => {
        const p = byKind[kind];
        return h(
          "div",
          { className: "tl-kv", dataset: { probe: kind } },
          h("span", { className: "tl-k" }, `/${kind}`),
          h("span", { className: "tl-src", title: p ? new Date(p.time).toISOString() : "" }, p ? ago(p.time) : "never"),
          p ? h("span", { className: "tl-v tl-muted" }, `from ${p.remote} · token ${p.token}`) : null,
          h("span", { className: "tl-v", dataset: { field: "answer" } }, p ? answerText(p.answer) : "–"),
        );
      }),
    );
    checks.replaceChildren(...(adv.checks || []).map((text) => h("li", {}, text)));
  }

  const el = section("Orchestrator probes", "orchestrator-probes", summary, table, checks, note);
  return { el, render };
}
