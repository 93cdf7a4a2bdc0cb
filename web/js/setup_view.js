// Setup help: the aiModels.json entry for this machine (with a copy button), the effective
// configuration and where each value comes from, and the runner settings a user may change.
import { client } from "./api_client.js";
import { copyText, h, reportError, section, toast } from "./dom.js";

const FIELDS = [
  ["token", "password", "Bearer token the orchestrator must send (aiModels.json token)"],
  ["model_id", "text", "model_id reported by /version"],
  ["capacity", "number", "concurrent streams"],
  ["stale_timeout", "number", "seconds without input before a new stream may pre-empt"],
  ["input_timeout", "number", "seconds without input before a stream stops"],
  ["verify_tls", "checkbox", "check certificates of trickle URLs"],
  ["allowed_hosts", "text", "trickle hosts accepted, comma-separated (empty: any)"],
];

function readField(input, type) {
  if (type === "checkbox") return input.checked;
  if (type === "number") return Number(input.value);
  return input.value;
}

export function createSetupView() {
  const entry = h("div", { className: "tl-code", dataset: { testid: "ai-models-entry" } }, "…");
  const alt = h("div", { className: "tl-muted" });
  const config = h("div", { dataset: { testid: "config" } });
  const inputs = {};
  let entryText = "";

  const form = FIELDS.map(([key, type, title]) => {
    const input = h("input", { type, title, dataset: { setting: key } });
    inputs[key] = input;
    const clear = h("button", { title: "Forget the saved value (environment or default applies)", onclick: () => save({ [key]: null }) }, "×");
    return h("div", { className: "tl-row" }, h("label", { title }, key), input, clear);
  });

  async function save(changes) {
    try {
      render(await client.saveSettings(changes));
      toast("success", "Runner settings saved", "they apply to the next stream");
      await refreshEntry();
    } catch (err) {
      reportError("Runner settings", err);
    }
  }

  function saveForm() {
    const changes = {};
    for (const [key, type] of FIELDS) {
      const input = inputs[key];
      if (key === "token" && input.value === "") continue; // empty: keep the saved token
      const value = readField(input, type);
      if (input.dataset.shown !== JSON.stringify(value)) changes[key] = value;
    }
    save(changes);
  }

  function render(view) {
    for (const [key, type] of FIELDS) {
      const input = inputs[key];
      let value = view.effective[key];
      if (key === "allowed_hosts") value = (value || []).join(", ");
      if (type === "checkbox") input.checked = Boolean(value);
      else if (key === "token") {
        input.value = "";
        input.placeholder = value ? "(set)" : "(none)";
      } else input.value = value ?? "";
      input.dataset.shown = JSON.stringify(readField(input, type));
    }
    // One block per setting: the name and where its value comes from on a line, the value below
    // (a narrow sidebar has no room for three columns).
    config.replaceChildren(
      ...Object.entries(view.effective).map(([key, value]) =>
        h(
          "div",
          { className: "tl-kv", dataset: { setting: key } },
          h("span", { className: "tl-k" }, key),
          h("span", { className: "tl-src", title: view.restart_required.includes(key) ? "read at start-up: restart ComfyUI to change it" : "applies to the next stream" }, view.sources[key] + (view.restart_required.includes(key) ? " · restart" : "")),
          h("span", { className: "tl-v" }, JSON.stringify(value)),
        ),
      ),
    );
  }

  async function refreshEntry() {
    const setup = await client.setup();
    entryText = JSON.stringify(setup.ai_models_entry, null, 2);
    entry.textContent = entryText;
    alt.textContent = `or, to keep the root paths free: "url": "${setup.alternative_url}"`;
  }

  async function refresh() {
    try {
      await refreshEntry();
      render(await client.settings());
    } catch (err) {
      reportError("Setup", err);
    }
  }

  const copy = h("button", { dataset: { testid: "copy-entry" }, onclick: async () => { await copyText(entryText); toast("success", "Copied", "aiModels.json entry"); } }, "Copy");
  const el = h(
    "div",
    {},
    section("Setup: aiModels.json entry", "setup", entry, h("div", { className: "tl-row" }, copy, alt)),
    section("Runner settings", "settings", ...form, h("div", { className: "tl-row" }, h("button", { className: "tl-primary", onclick: saveForm, dataset: { testid: "save-settings" } }, "Save settings"))),
    section("Effective configuration", "effective-config", config),
  );
  return { el, refresh };
}
