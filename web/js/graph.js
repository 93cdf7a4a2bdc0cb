// The editor's graph as the panel needs it: API format (the frontend's own conversion), the UI
// format, and the live parameter nodes with their declared type and range.
import { app } from "../../../scripts/app.js";

export const PARAM_TYPES = {
  TrickleParamText: "text",
  TrickleParamFloat: "float",
  TrickleParamInt: "int",
  TrickleParamSeed: "seed",
  TrickleParamBoolean: "boolean",
};

export async function currentGraph() {
  // graphToPrompt gives {workflow: UI format, output: API format}.
  const { workflow, output } = await app.graphToPrompt();
  return { ui: workflow, api: output };
}

export function hasStreamNodes(apiPrompt) {
  const types = Object.values(apiPrompt || {}).map((node) => node.class_type);
  return types.includes("TrickleInput") && types.includes("TrickleOutput");
}

export async function openGraph(graph, name) {
  await app.loadGraphData(graph, true, true, name);
}

function widget(node, name) {
  return (node.widgets || []).find((w) => w.name === name);
}

export function liveParameters() {
  // One entry per parameter name (several nodes may share a name; the first one describes it).
  const found = new Map();
  for (const node of app.graph?._nodes || app.graph?.nodes || []) {
    const kind = PARAM_TYPES[node.type];
    if (!kind || node.mode === 4) continue; // 4: bypassed
    const name = widget(node, "name")?.value;
    if (!name || found.has(name)) continue;
    const value = widget(node, "value");
    found.set(name, {
      name,
      kind,
      nodeId: node.id,
      title: node.title,
      value: value?.value,
      min: kind === "float" || kind === "int" ? widget(node, "min")?.value : undefined,
      max: kind === "float" || kind === "int" ? widget(node, "max")?.value : undefined,
      step: kind === "float" ? value?.options?.step2 ?? value?.options?.round ?? 0.01 : 1,
    });
  }
  return [...found.values()];
}

// Writes a live parameter's value into the graph's Live node(s) of that name (the panel and the
// graph stay in step: the node shows what the stream runs with, and saving the graph keeps it).
export function setLiveParameter(name, value) {
  let changed = 0;
  for (const node of app.graph?._nodes || app.graph?.nodes || []) {
    if (!PARAM_TYPES[node.type] || node.mode === 4 || widget(node, "name")?.value !== name) continue;
    const target = widget(node, "value");
    if (!target || target.value === value) continue;
    target.value = value;
    target.callback?.(value, app.canvas, node);
    changed += 1;
  }
  if (changed) app.graph?.setDirtyCanvas?.(true, true);
  return changed;
}
