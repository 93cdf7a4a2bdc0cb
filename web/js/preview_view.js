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
    try {
      const next = await client.frame(streamId);
      if (next) {
        await new Promise((resolve) => {
          img.onload = img.onerror = resolve;
          img.src = next;
        });
        if (url) URL.revokeObjectURL(url);
        url = next;
        frames += 1;
        img.dataset.frames = String(frames);
        sizes[streamId] = `${img.naturalWidth}×${img.naturalHeight}`;
        caption.textContent = `${streamId} · ${sizes[streamId]}`;
      }
    } catch (err) {
      caption.textContent = `${streamId}: ${err.message}`;
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
