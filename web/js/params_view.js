// Live parameters: one control per live parameter node of the graph; a change is sent to the
// running stream as {"<name>": value} (the test stream's control channel, or a stream's update).
// The controls and the graph's Live nodes are kept in step both ways: a control writes its value
// into the node(s) of that name; a node edited in the graph moves the control and is sent too.
// So the stream, the panel and the node always show the last value set, wherever it was set.
import { liveParameters, setLiveParameter } from "./graph.js";
import { h, reportError, section } from "./dom.js";

// A control for one parameter: {el, set(value)} (set: show a value that changed in the graph).
function control(param, send) {
  const attrs = { dataset: { testid: `param-${param.name}`, param: param.name } };
  if (param.kind === "boolean") {
    const box = h("input", { type: "checkbox", checked: Boolean(param.value), ...attrs });
    box.addEventListener("change", () => send(param.name, box.checked));
    return { el: box, set: (v) => (box.checked = Boolean(v)) };
  }
  if (param.kind === "text") {
    const text = h("input", { type: "text", value: param.value ?? "", ...attrs });
    text.addEventListener("change", () => send(param.name, text.value));
    return { el: text, set: (v) => (text.value = v ?? "") };
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
  const set = (v) => {
    input.value = v;
    shown.textContent = String(v ?? "");
  };
  return { el: h("span", { className: "tl-row", style: "flex: 1; margin: 0" }, input, shown), set };
}

export function createParamsView({ target }) {
  const list = h("div", { dataset: { testid: "params" } });
  const hint = h("div", { className: "tl-muted" });
  let signature = "";
  let known = {}; // name -> the value the controls, the nodes and (when running) the stream share
  let controls = {};

  function fromControl(name, value) {
    known[name] = value;
    setLiveParameter(name, value); // the graph's Live node follows the control
    return send(name, value);
  }

  async function send(name, value, quiet = false) {
    const where = target();
    if (!where) {
      if (!quiet) hint.textContent = "start a stream (or the test stream) to send updates";
      return;
    }
    try {
      await where.send({ [name]: value });
      hint.textContent = `sent ${name} = ${JSON.stringify(value)} to ${where.label}${quiet ? " (changed in the graph)" : ""}`;
    } catch (err) {
      reportError(`Parameter ${name}`, err);
    }
  }

  function refresh() {
    const params = liveParameters();
    const next = JSON.stringify(params.map((p) => [p.name, p.kind, p.min, p.max]));
    if (next === signature) {
      // the same controls; a value edited on a Live node in the graph moves its control and is sent
      for (const p of params) {
        if (p.value === known[p.name] || !controls[p.name]) continue;
        known[p.name] = p.value;
        controls[p.name].set(p.value);
        send(p.name, p.value, true);
      }
      return;
    }
    signature = next;
    known = Object.fromEntries(params.map((p) => [p.name, p.value]));
    controls = Object.fromEntries(params.map((p) => [p.name, control(p, fromControl)]));
    list.replaceChildren(
      ...params.map((p) => h("div", { className: "tl-row" }, h("label", { title: `${p.kind} · node ${p.nodeId}` }, p.name), controls[p.name].el)),
    );
    if (!params.length) list.append(h("div", { className: "tl-muted" }, "no live parameter nodes in the graph (trickle/parameters)"));
  }

  const note = h("div", { className: "tl-muted" }, "kept in step with the graph's Live nodes: the last value set, here or on a node, is what the stream runs with");
  const el = section("Live parameters", "params-section", list, hint, note);
  return { el, refresh };
}
