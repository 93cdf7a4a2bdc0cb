// Live parameters: one control per live parameter node of the graph; a change is sent to the
// running stream as {"<name>": value} (the test stream's control channel, or a stream's update).
import { liveParameters } from "./graph.js";
import { h, reportError, section } from "./dom.js";

function control(param, send) {
  const attrs = { dataset: { testid: `param-${param.name}`, param: param.name } };
  if (param.kind === "boolean") {
    const box = h("input", { type: "checkbox", checked: Boolean(param.value), ...attrs });
    box.addEventListener("change", () => send(param.name, box.checked));
    return box;
  }
  if (param.kind === "text") {
    const text = h("input", { type: "text", value: param.value ?? "", ...attrs });
    text.addEventListener("change", () => send(param.name, text.value));
    return text;
  }
  const number = param.kind === "float" ? Number.parseFloat : (v) => Number.parseInt(v, 10);
  const bounded = param.min !== undefined && param.max !== undefined && param.kind !== "seed";
  const input = h("input", {
    type: bounded ? "range" : "number",
    min: param.min,
    max: param.max,
    step: param.step,
    value: param.value,
    ...attrs,
  });
  const shown = h("span", { className: "tl-muted" }, String(param.value ?? ""));
  input.addEventListener("input", () => (shown.textContent = input.value));
  input.addEventListener("change", () => {
    shown.textContent = input.value;
    send(param.name, number(input.value));
  });
  return h("span", { className: "tl-row" }, input, shown);
}

export function createParamsView({ target }) {
  const list = h("div", { dataset: { testid: "params" } });
  const hint = h("div", { className: "tl-muted" });
  let signature = "";

  async function send(name, value) {
    const where = target();
    if (!where) {
      hint.textContent = "start a stream (or the test stream) to send updates";
      return;
    }
    try {
      await where.send({ [name]: value });
      hint.textContent = `sent ${name} = ${JSON.stringify(value)} to ${where.label}`;
    } catch (err) {
      reportError(`Parameter ${name}`, err);
    }
  }

  function refresh() {
    const params = liveParameters();
    const next = JSON.stringify(params.map((p) => [p.name, p.kind, p.min, p.max]));
    if (next === signature) return; // keep the controls (and what the user set) while unchanged
    signature = next;
    list.replaceChildren(
      ...params.map((p) => h("div", { className: "tl-row" }, h("label", { title: `${p.kind} · node ${p.nodeId}` }, p.name), control(p, send))),
    );
    if (!params.length) list.append(h("div", { className: "tl-muted" }, "no live parameter nodes in the graph (trickle/parameters)"));
  }

  const el = section("Live parameters", "params-section", list, hint);
  return { el, refresh };
}
