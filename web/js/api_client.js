// The one way the panel talks to the backend: every call goes through ComfyUI's api.fetchApi
// (which adds the /api prefix and the user header). Pack routes live under /trickle/.
import { api } from "../../../scripts/api.js";

const TOKEN_KEY = "trickle-live.token";

export class ApiError extends Error {
  constructor(status, message, detail) {
    super(message);
    this.status = status;
    this.detail = detail || {};
  }
}

function authHeaders() {
  const token = sessionStorage.getItem(TOKEN_KEY);
  return token ? { Authorization: `Bearer ${token}` } : {};
}

async function errorOf(resp) {
  let detail = {};
  try {
    detail = (await resp.json()).detail || {};
  } catch {
    detail = { msg: resp.statusText };
  }
  return new ApiError(resp.status, detail.msg || `HTTP ${resp.status}`, detail);
}

// Calls that need the runner token when one is set (stream stop/update, preview frames, runner
// settings): on 401, ask once and keep the token for this browser tab.
async function fetchWithToken(path, init, { ask = true } = {}) {
  init.headers = { ...(init.headers || {}), ...authHeaders() };
  let resp = await api.fetchApi(path, init);
  if (resp.status === 401 && ask) {
    const token = window.prompt(
      "The runner has a token. Enter it to control streams, see previews or change settings:",
    );
    if (token) {
      sessionStorage.setItem(TOKEN_KEY, token);
      init.headers = { ...init.headers, ...authHeaders() };
      resp = await api.fetchApi(path, init);
    }
  }
  return resp;
}

async function send(method, path, body, { auth = false } = {}) {
  const init = { method, headers: {} };
  if (body !== undefined) {
    init.body = JSON.stringify(body);
    init.headers["Content-Type"] = "application/json";
  }
  const resp = auth ? await fetchWithToken(path, init) : await api.fetchApi(path, init);
  if (!resp.ok) throw await errorOf(resp);
  return resp.status === 204 ? null : resp.json();
}

const enc = encodeURIComponent;
let framePromptShown = false;

export const client = {
  status: () => send("GET", "/trickle/status"),
  streams: () => send("GET", "/trickle/streams"),
  stopStream: (id) => send("POST", `/trickle/streams/${enc(id)}/stop`, {}, { auth: true }),
  updateStream: (id, update) =>
    send("POST", `/trickle/streams/${enc(id)}/update`, update, { auth: true }),

  async frame(streamId) {
    // The latest output frame as an object URL, or null (204: none yet).
    const path = streamId ? `/trickle/streams/${enc(streamId)}/frame.jpg` : "/trickle/frame.jpg";
    // polled: ask for the token at most once per tab (a refused prompt is not asked again)
    const ask = !framePromptShown && !sessionStorage.getItem(TOKEN_KEY);
    const resp = await fetchWithToken(`${path}?t=${Date.now()}`, { cache: "no-store" }, { ask });
    if (resp.status === 401) framePromptShown = true;
    if (resp.status === 204) return null;
    if (!resp.ok) throw await errorOf(resp);
    return URL.createObjectURL(await resp.blob());
  },

  workflows: () => send("GET", "/trickle/workflows"),
  saveWorkflow: (name, workflow, makeDefault) =>
    send("POST", `/trickle/workflows/${enc(name)}`, { workflow, default: makeDefault }),
  deleteWorkflow: (name) => send("DELETE", `/trickle/workflows/${enc(name)}`),
  setDefault: (name) => send("POST", "/trickle/default-workflow", { name }),
  editorGraph: (name) => send("GET", `/trickle/workflows-ui/${enc(name)}`),
  saveEditorGraph: (name, graph) => send("POST", `/trickle/workflows-ui/${enc(name)}`, graph),
  deleteEditorGraph: (name) => send("DELETE", `/trickle/workflows-ui/${enc(name)}`),

  testStatus: () => send("GET", "/trickle/live-test"),
  startTest: (options) => send("POST", "/trickle/live-test", options),
  updateTest: (update) => send("POST", "/trickle/live-test/update", update),
  stopTest: () => send("POST", "/trickle/live-test/stop", {}),

  async uploadClip(blob, { name, seconds, width, height, fps }) {
    // A video file or a webcam recording, sent as the raw body; transcoded on the server.
    const query = new URLSearchParams({ name, seconds, width, height, fps });
    const resp = await api.fetchApi(`/trickle/live-test/clip?${query}`, { method: "POST", body: blob });
    if (!resp.ok) throw await errorOf(resp);
    return resp.json();
  },

  settings: () => send("GET", "/trickle/settings"),
  async saveSettings(changes) {
    // With a token set, changing settings needs it; a new (or cleared) token replaces the kept one.
    const view = await send("POST", "/trickle/settings", changes, { auth: true });
    if ("token" in changes) {
      if (changes.token) sessionStorage.setItem(TOKEN_KEY, changes.token);
      else sessionStorage.removeItem(TOKEN_KEY);
    }
    return view;
  },
  setup: () => send("GET", "/trickle/setup"),
};
