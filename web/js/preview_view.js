// A live preview of one stream's output at a low rate (the latest frame as JPEG).
import { client } from "./api_client.js";
import { h, section } from "./dom.js";

export function createPreviewView() {
  const img = h("img", { className: "tl-preview", alt: "no output yet", dataset: { testid: "preview" } });
  const caption = h("div", { className: "tl-muted", dataset: { testid: "preview-caption" } }, "no stream");
  const sizes = {};
  let streamId = null;
  let url = null;
  let busy = false;
  let frames = 0;

  async function tick() {
    if (!streamId || busy) return;
    busy = true;
    const id = streamId; // a request that outlives its stream (ended, switched) changes nothing
    try {
      const next = await client.frame(id);
      if (id !== streamId) {
        if (next) URL.revokeObjectURL(next);
      } else if (next) {
        await new Promise((resolve) => {
          img.onload = img.onerror = resolve;
          img.src = next;
        });
        if (url) URL.revokeObjectURL(url);
        url = next;
        frames += 1;
        img.dataset.frames = String(frames);
        sizes[id] = `${img.naturalWidth}×${img.naturalHeight}`;
        caption.textContent = `${id} · ${sizes[id]}`;
      }
    } catch (err) {
      if (id === streamId) caption.textContent = `${id}: ${err.message}`;
    } finally {
      busy = false;
    }
  }

  function setStream(id) {
    if (id === streamId) return;
    const previous = streamId;
    streamId = id;
    // the last frame stays, captioned as ended
    if (!id) caption.textContent = previous && frames ? `${previous} · ${sizes[previous] || ""} · ended (last frame)` : "no stream";
  }

  const el = section("Live preview", "preview-section", img, caption);
  return { el, tick, setStream, sizes, current: () => streamId };
}
