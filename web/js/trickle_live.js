// Trickle Live: the ComfyUI editor extension (sidebar panel, settings, commands).
// The only module with a side effect on load: it registers the extension. Nothing is logged.
import { app } from "../../../scripts/app.js";
import { reportError, toast } from "./dom.js";
import { createPanel } from "./panel.js";
import { saveCurrentGraph } from "./workflows_view.js";

const ID = "TrickleLive";
const TAB = "trickle-live";
const get = (key) => app.extensionManager?.setting?.get(`${ID}.${key}`);
const SIZES = { "256x256": [256, 256], "384x256": [384, 256], "512x512": [512, 512], "640x360": [640, 360] };

// Editor preferences live in ComfyUI's settings; runner settings are in the panel (user directory).
const settings = {
  refreshMs: () => Math.max(250, Number(get("RefreshMs")) || 1000),
  previewFps: () => Math.min(10, Math.max(0.5, Number(get("PreviewFps")) || 2)),
  seconds: () => Math.min(600, Math.max(1, Number(get("TestSeconds")) || 30)),
  fps: () => Math.min(60, Math.max(1, Number(get("TestFps")) || 24)),
  size: () => {
    const [width, height] = SIZES[get("TestSize")] || SIZES["384x256"];
    return { width, height };
  },
};

let panel = null;
function getPanel() {
  panel = panel || createPanel(settings);
  return panel;
}

const category = (name) => ["Trickle Live", "Panel", name];

app.registerExtension({
  name: "trickle-live.panel",
  settings: [
    { id: `${ID}.RefreshMs`, name: "Status refresh interval (ms)", type: "number", defaultValue: 1000, category: category("Refresh"), attrs: { min: 250, max: 10000, step: 250 } },
    { id: `${ID}.PreviewFps`, name: "Preview frames per second", type: "number", defaultValue: 2, category: category("Preview"), attrs: { min: 0.5, max: 10, step: 0.5 } },
    { id: `${ID}.TestSeconds`, name: "Test stream length (s)", type: "number", defaultValue: 30, category: category("TestSeconds"), attrs: { min: 1, max: 600 } },
    { id: `${ID}.TestFps`, name: "Test stream frame rate", type: "number", defaultValue: 24, category: category("TestFps"), attrs: { min: 1, max: 60 } },
    { id: `${ID}.TestSize`, name: "Test stream size", type: "combo", options: Object.keys(SIZES), defaultValue: "384x256", category: category("TestSize") },
  ],
  commands: [
    { id: `${ID}.SaveAsLive`, label: "Trickle Live: use this graph as the default live workflow", icon: "pi pi-save", function: () => saveDefault() },
    { id: `${ID}.StartTest`, label: "Trickle Live: start a test stream of this graph", icon: "pi pi-play", function: () => getPanel().test.start("graph") },
    { id: `${ID}.StopTest`, label: "Trickle Live: stop the test stream", icon: "pi pi-stop", function: () => getPanel().test.stop() },
  ],
  async setup() {
    app.extensionManager.registerSidebarTab({
      id: TAB,
      icon: "pi pi-video",
      title: "Trickle Live",
      tooltip: "Trickle Live: live streams, test stream, setup",
      type: "custom",
      render(el) {
        const p = getPanel();
        el.style.height = "100%"; // the title bar stays, the sections scroll (as in the frontend's tabs)
        el.replaceChildren(p.el);
        p.start();
      },
    });
  },
});

async function saveDefault() {
  try {
    const saved = await saveCurrentGraph("default", true);
    toast("success", "Live workflow saved", `default (${saved.nodes} nodes)`);
    panel?.workflows.refresh();
  } catch (err) {
    reportError("Save live workflow", err);
  }
}
