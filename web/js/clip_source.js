// What the test stream plays: the generated test clip, an uploaded video file, or a recording of
// the webcam (where the browser allows: a secure context such as localhost or https, and a
// camera). A file or recording is uploaded and transcoded on the server, then streamed through
// the same orchestrator path as the generated clip.
import { client } from "./api_client.js";
import { h } from "./dom.js";

const MAX_WEBCAM_SECONDS = 30;

function webcamAvailable() {
  return Boolean(window.isSecureContext && navigator.mediaDevices?.getUserMedia && window.MediaRecorder);
}

async function recordWebcam(seconds, onTick) {
  const media = await navigator.mediaDevices.getUserMedia({ video: true, audio: false });
  try {
    const recorder = new MediaRecorder(media);
    const parts = [];
    recorder.ondataavailable = (e) => e.data.size && parts.push(e.data);
    const done = new Promise((resolve) => { recorder.onstop = resolve; });
    recorder.start(500);
    for (let left = seconds; left > 0; left -= 1) {
      onTick(`recording the webcam… ${left}s`);
      await new Promise((r) => setTimeout(r, 1000));
    }
    recorder.stop();
    await done;
    return new Blob(parts, { type: recorder.mimeType || "video/webm" });
  } finally {
    media.getTracks().forEach((t) => t.stop());
  }
}

export function createClipSource() {
  const webcam = webcamAvailable();
  const select = h(
    "select",
    { dataset: { testid: "test-clip" } },
    h("option", { value: "generated" }, "the built-in test clip"),
    h("option", { value: "file" }, "a video file…"),
    h("option", { value: "webcam", disabled: !webcam, title: webcam ? "" : "needs a camera and a secure context (localhost or https)" }, "the webcam (records, then streams)"),
  );
  const file = h("input", { type: "file", accept: "video/*", hidden: true, dataset: { testid: "test-file" } });
  select.addEventListener("change", () => { file.hidden = select.value !== "file"; });
  const el = h("div", { className: "tl-row" }, h("label", {}, "clip"), select, file);

  // Start options for POST /trickle/live-test: {} for the generated clip, else {source: "upload"}
  // after the file or recording is uploaded (the server keeps it at the test size and rate).
  async function prepare(options, onTick) {
    if (select.value === "generated") return {};
    let blob;
    let name;
    if (select.value === "file") {
      blob = file.files?.[0];
      if (!blob) throw new Error("choose a video file first");
      name = blob.name;
    } else {
      blob = await recordWebcam(Math.min(options.seconds, MAX_WEBCAM_SECONDS), onTick);
      name = "webcam";
    }
    onTick(`uploading ${name} (${Math.round(blob.size / 1024)} KiB)…`);
    const clip = await client.uploadClip(blob, { name, seconds: Math.min(options.seconds, 120), width: options.width, height: options.height, fps: options.fps });
    onTick(`${clip.name}: ${clip.frames} frames, ${clip.seconds}s`);
    return { source: "upload" };
  }

  return { el, prepare };
}
