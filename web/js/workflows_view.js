// "Use this graph for live streams": save the current graph (API + UI format) as the default live
// workflow or under a name (a model_id); list, open, make default and delete saved ones.
import { app } from "../../../scripts/app.js";
import { client } from "./api_client.js";
import { currentGraph, hasStreamNodes, openGraph } from "./graph.js";
import { h, reportError, section, toast } from "./dom.js";

const NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$/;

export async function saveCurrentGraph(name, makeDefault) {
  if (!NAME.test(name)) throw new Error("name: 1-100 of A-Z a-z 0-9 . _ - (not first: . _ -)");
  const { ui, api } = await currentGraph();
  if (!hasStreamNodes(api)) throw new Error("the graph needs a TrickleInput and a TrickleOutput node");
  const saved = await client.saveWorkflow(name, api, makeDefault);
  await client.saveEditorGraph(name, ui);
  return saved;
}

export function createWorkflowsView() {
  const name = h("input", { type: "text", value: "default", dataset: { testid: "workflow-name" }, title: "A model_id that selects this workflow" });
  const makeDefault = h("input", { type: "checkbox", checked: true, dataset: { testid: "workflow-default" } });
  const list = h("div", { dataset: { testid: "workflow-list" } });
  const defaultLine = h("div", { className: "tl-muted", dataset: { testid: "default-workflow" } });

  async function refresh() {
    try {
      const { saved, bundled, default: current } = await client.workflows();
      defaultLine.textContent = `default live workflow: ${current || "(none: the bundled passthrough runs)"}`;
      const rows = [
        ...saved.map((n) => row(n, "saved", n === current)),
        ...bundled.filter((n) => !saved.includes(n)).map((n) => row(n, "bundled", n === current)),
      ];
      list.replaceChildren(...rows);
    } catch (err) {
      reportError("Live workflows", err);
    }
  }

  function row(workflow, source, isDefault) {
    const act = (label, title, fn) => h("button", { title, onclick: () => fn(workflow).catch((e) => reportError(label, e)) }, label);
    // name, where it comes from, and its buttons side by side on one line
    return h(
      "div",
      { className: "tl-kv", dataset: { workflow } },
      h("span", { className: "tl-k", title: `${workflow} (${source})` }, isDefault ? `${workflow} ★` : workflow, h("span", { className: "tl-muted" }, ` · ${source}`)),
      h(
        "span",
        { className: "tl-actions" },
        act("open", "Open in the editor", open),
        isDefault ? null : act("default", "Make this the default live workflow", makeDefaultWorkflow),
        source === "saved" ? h("button", { className: "tl-danger", title: "Delete this saved live workflow", onclick: () => remove(workflow).catch((e) => reportError("delete", e)) }, "delete") : null,
      ),
    );
  }

  async function open(workflow) {
    const { graph } = await client.editorGraph(workflow);
    await openGraph(graph, workflow);
    toast("info", "Live workflow opened", workflow);
  }

  async function makeDefaultWorkflow(workflow) {
    await client.setDefault(workflow);
    await refresh();
  }

  // The frontend's own confirmation dialog (the extension API's dialog service), as its own deletes do.
  async function confirmDelete(workflow) {
    const message = `Delete the saved live workflow "${workflow}"? Streams that ask for it by model_id will run the default instead.`;
    const dialog = app.extensionManager?.dialog;
    if (dialog?.confirm) return Boolean(await dialog.confirm({ title: "Delete live workflow", message, type: "delete" }));
    return window.confirm(message);
  }

  async function remove(workflow) {
    if (!(await confirmDelete(workflow))) return;
    await client.deleteWorkflow(workflow);
    await client.deleteEditorGraph(workflow).catch(() => null);
    await refresh();
  }

  async function save() {
    try {
      const result = await saveCurrentGraph(name.value.trim(), makeDefault.checked);
      toast("success", "Saved for live streams", `${result.name} (${result.nodes} nodes)${result.default === result.name ? " · default" : ""}`);
      await refresh();
    } catch (err) {
      reportError("Save live workflow", err);
    }
  }

  const el = section(
    "Use this graph for live streams",
    "workflows",
    h("div", { className: "tl-row" }, h("label", {}, "name / model_id"), name),
    h(
      "div",
      { className: "tl-row" },
      h("label", {}, makeDefault, " make default"),
      h("button", { className: "tl-primary", onclick: save, dataset: { testid: "save-workflow" } }, "Save current graph"),
    ),
    defaultLine,
    list,
  );
  return { el, refresh };
}
