"""Issue 20, the panel as a new user meets it (real ComfyUI, headless Chromium): it wears the new
frontend's look (PrimeVue's buttons and fields, only the frontend's colour variables); nothing is cut
off or stacked awkwardly at the default sidebar width or a narrower one; the live parameter controls
and the graph's Live nodes stay in step both ways; stopping the test stream is not an error; and an
ended stream keeps its last figures and says "ended".

Screenshots (default width and narrow) go to $TRICKLE_SCREENSHOTS (the README's: docs/img), else to
a temporary folder."""

from __future__ import annotations

import json
import os
import re
import tempfile
import time
from pathlib import Path
from typing import Any

import pytest

from .web_page import load_blur, open_editor, wait_until

pytestmark = pytest.mark.comfyui

IMG = Path(os.environ.get("TRICKLE_SCREENSHOTS") or tempfile.gettempdir() + "/trickle-live-screens")
PANEL = "[data-testid=trickle-live-panel]"
NARROW = 260  # px: narrower than ComfyUI lets the sidebar be (its minimum is 312 px, the default)


def sidebar_width(page: Any, width: int | None) -> int:
    """Set the sidebar panel's width (None: ComfyUI's default); returns the panel's width."""
    return int(
        page.evaluate(
            """(w) => { const side = document.querySelector('.side-bar-panel');
               if (side.dataset.style === undefined) side.dataset.style = side.getAttribute('style') || '';
               side.setAttribute('style', side.dataset.style);
               if (w) Object.assign(side.style, {minWidth: `${w}px`, maxWidth: `${w}px`, flexBasis: `${w}px`});
               return document.querySelector('[data-testid=trickle-live-panel]').clientWidth; }""",
            width,
        )
    )


# Every visible element of the panel whose box reaches past the panel's right edge (cut off), and
# the height in lines of each source cell of the effective configuration.
LAYOUT = """() => {
  const panel = document.querySelector('[data-testid=trickle-live-panel] .tl-body');
  const right = panel.getBoundingClientRect().right + 0.5;
  const out = [];
  for (const el of panel.querySelectorAll('*')) {
    const r = el.getBoundingClientRect();
    if (!r.width || !r.height || getComputedStyle(el).visibility === 'hidden') continue;
    if (r.right > right) out.push(`${el.tagName}.${el.className} ${el.textContent.slice(0, 40)} ${r.right} > ${right}`);
    if (el.scrollWidth > el.clientWidth + 1 && getComputedStyle(el).overflowX === 'hidden' && el !== panel)
      out.push(`clipped ${el.tagName}.${el.className} ${el.textContent.slice(0, 40)}`);
  }
  const lines = (el) => { const cs = getComputedStyle(el);
    return el.getBoundingClientRect().height / (parseFloat(cs.lineHeight) || 1.25 * parseFloat(cs.fontSize)); };
  const sources = [...panel.querySelectorAll('[data-testid=config] .tl-src')].map(lines);
  const rows = [...panel.querySelectorAll('[data-testid=workflow-list] [data-workflow]')].map((row) =>
    new Set([...row.querySelectorAll('button')].map((b) => Math.round(b.getBoundingClientRect().top))).size);
  return {cut: out, sourceLines: sources, buttonRowsPerWorkflow: rows};
}"""


def check_layout(page: Any, label: str) -> None:
    layout = page.evaluate(LAYOUT)
    assert layout["cut"] == [], (label, layout["cut"])
    assert layout["sourceLines"] and max(layout["sourceLines"]) < 1.6, (label, layout)
    assert layout["buttonRowsPerWorkflow"] and set(layout["buttonRowsPerWorkflow"]) == {1}, (
        label,
        layout,
    )


def section_shots(page: Any, prefix: str) -> None:
    IMG.mkdir(parents=True, exist_ok=True)
    box = page.locator(PANEL).bounding_box()
    body = page.locator(f"{PANEL} .tl-body")
    for i, name in enumerate(["top", "middle", "bottom"]):
        body.evaluate(
            "(el, f) => { el.scrollTop = f * (el.scrollHeight - el.clientHeight); }", i / 2
        )
        time.sleep(0.3)
        page.screenshot(
            path=str(IMG / f"{prefix}-{name}.png"),
            clip={"x": box["x"], "y": box["y"], "width": box["width"], "height": box["height"]},
        )
    probes = page.locator("[data-testid=orchestrator-probes]")
    probes.scroll_into_view_if_needed()
    probes.screenshot(path=str(IMG / f"{prefix}-probes.png"))
    body.evaluate("el => { el.scrollTop = 0; }")


def test_the_panel_wears_the_frontends_look(comfy_web: Any, browser_page: Any) -> None:
    page = browser_page
    open_editor(comfy_web, page)
    load_blur(page, test_seconds=60, preview_fps=2)
    page.click(".trickle-live-tab-button")
    page.wait_for_selector(f"{PANEL} [data-testid=runner-state].tl-state-IDLE")
    page.wait_for_selector(f"{PANEL} [data-testid=config] [data-setting=capacity]")
    # a title bar like the frontend's own sidebar tabs
    assert page.inner_text(f"{PANEL} .tl-header").startswith("Trickle Live")
    look = page.evaluate(
        """() => {
          const probe = document.createElement('div'); document.body.append(probe);
          const colour = (v) => { probe.style.background = `var(${v})`; return getComputedStyle(probe).backgroundColor; };
          const wanted = [colour('--p-button-secondary-background'), colour('--p-button-primary-background')];
          probe.remove();
          const buttons = [...document.querySelectorAll('[data-testid=trickle-live-panel] button')];
          return {
            css: document.getElementById('trickle-live-styles').textContent,
            notPrime: buttons.filter((b) => !b.classList.contains('p-button')).map((b) => b.textContent),
            offColour: buttons.filter((b) => !wanted.includes(getComputedStyle(b).backgroundColor)).map((b) => b.textContent),
            fields: [...document.querySelectorAll('[data-testid=trickle-live-panel] input[type=text], [data-testid=trickle-live-panel] select')]
              .filter((f) => !f.classList.contains('p-inputtext')).length,
          };
        }"""
    )
    assert look["notPrime"] == [] and look["offColour"] == [] and look["fields"] == 0, look
    # every colour is one of the frontend's variables; a literal only as a var() fallback
    literals = [
        m.group(0)
        for m in re.finditer(r"#[0-9a-fA-F]{3,8}\b|rgba?\(", look["css"])
        if not re.search(r"var\(--[\w-]+,\s*$", look["css"][: m.start()])
    ]
    assert literals == [], literals
    used = set(re.findall(r"var\((--[\w-]+)", look["css"]))
    undefined = page.evaluate(
        "(vs) => vs.filter((v) => !getComputedStyle(document.documentElement).getPropertyValue(v))",
        sorted(used),
    )
    # only the optional ones (each with a fallback) may be missing
    assert set(undefined) <= {
        "--p-font-family-mono",
        "--p-amber-700",
        "--p-green-700",
        "--p-red-700",
    }, undefined
    assert page.errors == []


def test_nothing_is_cut_off_at_the_default_width_or_a_narrow_one(
    comfy_web: Any, browser_page: Any
) -> None:
    page = browser_page
    # a recorded probe with a long answer, as the orchestrator's would be
    comfy_web.get("/hardware/info")
    comfy_web.get("/version")
    page.wait_for_selector(f"{PANEL} [data-probe='hardware/info'] .tl-src:not(:text('never'))")
    default = sidebar_width(page, None)
    assert default >= 300, default  # ComfyUI's default sidebar (312 px at this window)
    time.sleep(0.5)
    check_layout(page, f"default ({default} px)")
    section_shots(page, "panel-default")
    narrow = sidebar_width(page, NARROW)
    assert narrow <= NARROW, narrow
    time.sleep(0.5)
    check_layout(page, f"narrow ({narrow} px)")
    section_shots(page, "panel-narrow")
    sidebar_width(page, None)


def node_value(page: Any, name: str) -> Any:
    return page.evaluate(
        """(name) => { for (const n of app.graph._nodes) {
             const w = (k) => (n.widgets || []).find((x) => x.name === k);
             if (n.type.startsWith('TrickleParam') && w('name')?.value === name) return w('value').value; }
           return null; }""",
        name,
    )


def set_node_value(page: Any, name: str, value: float) -> None:
    page.evaluate(
        """([name, value]) => { for (const n of app.graph._nodes) {
             const w = (k) => (n.widgets || []).find((x) => x.name === k);
             if (n.type.startsWith('TrickleParam') && w('name')?.value === name) {
               w('value').value = value; w('value').callback?.(value); } }
           app.graph.setDirtyCanvas(true, true); }""",
        [name, value],
    )


def test_the_controls_and_the_live_nodes_stay_in_step(comfy_web: Any, browser_page: Any) -> None:
    page = browser_page
    page.select_option("[data-testid=test-source]", "graph")
    page.click("[data-testid=test-start]")
    wait_until(lambda: comfy_web.get("/trickle/live-test")["running"], 40, "the test stream")
    wait_until(
        lambda: re.search(r"fps in/out \d", page.inner_text("[data-testid=test-figures]")),
        40,
        "figures",
    )
    # the panel's slider moves the graph's Live node
    page.locator("[data-testid=params] [data-param=radius]").evaluate(
        "el => { el.value = '17'; el.dispatchEvent(new Event('change')); }"
    )
    wait_until(lambda: node_value(page, "radius") == 17, 5, "the node to follow the slider")
    # a value edited on the node moves the slider and reaches the stream
    set_node_value(page, "sigma", 5)
    control = "[data-testid=params] [data-param=sigma]"
    wait_until(lambda: page.input_value(control) == "5", 5, "the slider to follow the node")
    hint = "[data-testid=params-section]"
    wait_until(lambda: "sent sigma = 5" in page.inner_text(hint), 5, "the update to be sent")
    events = comfy_web.get("/trickle/live-test").get("events", [])
    assert page.errors == [], events


def test_a_stop_is_not_an_error_and_the_ended_stream_keeps_its_figures(
    comfy_web: Any, browser_page: Any
) -> None:
    page = browser_page
    sid = comfy_web.get("/trickle/live-test")["stream_id"]
    caption = "[data-testid=preview-caption]"
    wait_until(lambda: sid in page.inner_text(caption), 30, "a preview frame of the stream")
    time.sleep(1.5)
    # a preview request still in flight when the stream ends (on a loaded machine it comes back
    # after the stop, 404): held here and answered after the stop. Failed on the main of
    # 2026-12-06: the caption became "null: no such stream: '<id>'".
    held: list[Any] = []

    def hold(route: Any) -> None:
        held.append(route)

    page.route("**/frame.jpg*", hold)
    for _ in range(100):  # playwright calls its handlers only while the test is inside it
        if held:
            break
        page.wait_for_timeout(100)
    assert held, "no preview request in 10 s"
    page.click("[data-testid=test-stop]")
    wait_until(lambda: not comfy_web.get("/trickle/live-test")["running"], 20, "the stop")
    wait_until(lambda: comfy_web.get("/health")["status"] == "IDLE", 20, "the runner to be idle")
    figures = wait_until(
        lambda: (t := page.inner_text("[data-testid=test-figures]")).startswith("ended") and t,
        10,
        "the figures to say ended",
    )
    assert re.search(r"fps in/out \d+\.\d / \d+\.\d", figures), figures  # not "– / –"
    row = f"[data-testid=streams] [data-stream='{sid}'][data-ended]"
    wait_until(lambda: page.locator(row).count() == 1, 10, "the ended stream's row")
    kept = page.inner_text(row)
    assert "ended" in kept and re.search(r"fps in/out \d+\.\d / \d+\.\d", kept), kept
    shown = page.inner_text(caption)
    assert sid in shown and "ended" in shown, shown  # the last frame stays, said to be ended
    for route in held:
        route.fulfill(status=404, content_type="application/json",
                      body=json.dumps({"detail": f"no such stream: {sid!r}"}))  # fmt: skip
    page.unroute("**/frame.jpg*")
    page.wait_for_timeout(500)
    shown = page.inner_text(caption)
    assert sid in shown and "ended" in shown, shown  # the late answer changed nothing
    time.sleep(1.5)  # a few refreshes later, still no error
    assert page.inner_text("[data-testid=last-error]") == ""
    assert comfy_web.get("/trickle/status")["last_error"] is None
    IMG.mkdir(parents=True, exist_ok=True)
    page.locator("[data-testid=test-stream]").scroll_into_view_if_needed()
    page.screenshot(path=str(IMG / "test-stream-ended.png"))
    assert page.errors == []


def test_deleting_a_saved_workflow_asks_in_the_frontends_dialog(
    comfy_web: Any, browser_page: Any
) -> None:
    page = browser_page
    page.fill("[data-testid=workflow-name]", "to-delete")
    page.uncheck("[data-testid=workflow-default]")
    page.click("[data-testid=save-workflow]")
    row = "[data-testid=workflow-list] [data-workflow=to-delete]"
    page.wait_for_selector(row)
    page.click(f"{row} button:has-text('delete')")
    dialog = page.locator(".p-dialog").filter(has_text="to-delete")
    dialog.wait_for(timeout=10_000)  # the frontend's confirm dialog, not the browser's
    IMG.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(IMG / "delete-workflow.png"))
    dialog.locator("button", has_text="Delete").click()
    wait_until(lambda: page.locator(row).count() == 0, 10, "the row to go")
    assert "to-delete" not in comfy_web.get("/trickle/workflows")["saved"]
    assert page.errors == []
