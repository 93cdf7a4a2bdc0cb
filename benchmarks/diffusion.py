"""The diffusion workflow's *model floor* against the live stream, in one ComfyUI.

- **Model floor**: ``sd-turbo-img2img`` (the bundled file, with the size and steps patched as the
  stream gets them) queued back to back through ComfyUI's own queue, no streaming; per-frame time
  = ComfyUI's execution time per prompt (``execution_start`` → ``execution_success`` in the
  history; it includes ``TrickleOutput``'s editor preview, a PNG of the picture).
- **Live stream, latency**: one-frame segments, each sent after the output of the one before came
  back plus a pause (nothing queues): the runner's own latency per frame (input frame decoded →
  output frame handed to the encoder, ``/trickle/status`` → ``latency_ms``).
- **Live stream, throughput**: the clip fed in real time at twice the floor's rate (the graph is
  always busy; live video drops the oldest waiting frame): frames out per second, and ComfyUI's
  CPU time per frame.

Prints the floor ratio (stream fps / floor fps; target ≥ 0.9) and latency against model time +
50 ms (target), and per stream ``timing_ms`` (frames' median wait before the lease took them and
their run time). ``--batch off,2`` compares batching (``TRICKLE_BATCH``, docs/comfyui.md): the
stream figures once per value, each in a ComfyUI of its own, and for a number the model floor of
a batch of that many frames (the frame repeated by ``RepeatImageBatch``) against one frame,
prompts of each kind alternated; ``--feed-fps 30`` feeds
the throughput phase fast enough that frames queue (live video drops a frame that waited 100 ms
with a newer one behind it, so only frames less than 100 ms apart can share a batch);
``--floor-paced`` also times the floor's prompt after the latency phase's pause (the machine
idle one model time before each), alternated with back-to-back prompts. The checkpoint is the random-weight one of ``scripts/make-random-checkpoint.py``
(cached like the tests': ``$TRICKLE_CHECKPOINT_CACHE`` or ``~/.cache/trickle-live/checkpoints``),
or ``--checkpoint FILE`` (a real sd_turbo.safetensors)::

    .venv/bin/python benchmarks/diffusion.py --comfyui /opt/comfyui --size 64 --steps 1
    .venv/bin/python benchmarks/diffusion.py --comfyui /opt/comfyui --gpu --size 512 --steps 1
    .venv/bin/python benchmarks/diffusion.py --comfyui /opt/comfyui --batch off,2 --feed-fps 30
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import platform
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from trickle.media.testclip import iter_segments  # noqa: E402
from trickle.runner.simulator import GatewayStream, LocalOrchestrator  # noqa: E402

ARCH, SEED = "sd21-turbo", 0


def say(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


def checkpoint(comfy: Path, python: str) -> Path:
    import hashlib

    script = ROOT / "scripts" / "make-random-checkpoint.py"
    digest = hashlib.sha1(script.read_bytes()).hexdigest()[:10]
    cache = Path(
        os.environ.get("TRICKLE_CHECKPOINT_CACHE")
        or Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
        / "trickle-live"
        / "checkpoints"
    )
    path = cache / f"{ARCH}-seed{SEED}-fp16-{digest}.safetensors"
    if not path.is_file():
        say(f"making the random checkpoint {path} (about a minute on 2 cores)")
        cmd = [python, str(script), "--comfyui", str(comfy), "--arch", ARCH, "--seed", str(SEED),
               "--out", str(path)]  # fmt: skip
        subprocess.run(cmd, check=True)
    return path


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def request(url: str, method: str = "GET", body: Any = None, timeout: float = 30) -> Any:
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(url, data=data, method=method)
    if data is not None:
        req.add_header("Content-Type", "application/json")
    with urllib.request.urlopen(req, timeout=timeout) as resp:
        raw = resp.read()
    return json.loads(raw) if raw else None


def workflow(size: int, steps: int) -> dict[str, Any]:
    graph: dict[str, Any] = json.loads(
        (ROOT / "api_workflows" / "sd-turbo-img2img.api.json").read_text()
    )
    graph["1"]["inputs"].update(test_width=size, test_height=size)
    graph["6"]["inputs"].update(width=size, height=size)
    graph["10"]["inputs"]["value"] = steps
    return graph


def start_params(size: int, steps: int) -> dict[str, Any]:
    """The bundled workflow as it is; size and steps the documented way (a patch, a parameter)."""
    bundled = json.loads((ROOT / "api_workflows" / "sd-turbo-img2img.api.json").read_text())
    return {"prompt": bundled, "steps": steps, "6": {"width": size, "height": size},
            "width": size, "height": size}  # fmt: skip


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def batched(graph: dict[str, Any], batch: int) -> dict[str, Any]:
    """The graph with the frame repeated into an IMAGE batch of ``batch`` before the model."""
    graph = json.loads(json.dumps(graph))
    graph["99"] = {"class_type": "RepeatImageBatch",
                   "inputs": {"image": ["1", 0], "amount": batch}}  # fmt: skip
    graph["6"]["inputs"]["image"] = ["99", 0]
    return graph


def prompt_times(url: str, graphs: list[dict[str, Any]], cached: set[str]) -> list[float]:
    """Queue the graphs back to back; ComfyUI's execution time of each, in order."""
    ids = [request(url + "/prompt", "POST", {"prompt": g})["prompt_id"] for g in graphs]
    deadline = time.monotonic() + 600
    times: list[float] = []
    for pid in ids:
        while time.monotonic() < deadline:
            entry = request(f"{url}/history/{pid}").get(pid)
            if entry and entry["status"].get("completed") is not None:
                marks = {m[0]: m[1].get("timestamp") for m in entry["status"]["messages"]}
                cached.update(
                    str(n)
                    for m in entry["status"]["messages"]
                    if m[0] == "execution_cached"
                    for n in m[1].get("nodes", [])
                )
                if "execution_success" not in marks:
                    raise SystemExit(f"floor prompt failed: {entry['status']}")
                times.append((marks["execution_success"] - marks["execution_start"]) / 1000)
                break
            time.sleep(0.2)  # polling less often: the server loop shares the GIL
    return times


def floor(url: str, size: int, steps: int, prompts: int) -> dict[str, Any]:
    """ComfyUI's own execution time per prompt, back to back (after two warm-up prompts)."""
    graph = workflow(size, steps)
    cached: set[str] = set()
    prompt_times(url, [graph] * 2, cached)
    cached.clear()
    began = time.monotonic()
    times = prompt_times(url, [graph] * prompts, cached)
    wall = time.monotonic() - began
    ms = statistics.median(times) * 1000
    return {"prompts": prompts, "model_ms_median": round(ms, 1),
            "model_ms_min": round(min(times) * 1000, 1), "fps": round(1000 / ms, 3),
            "wall_fps": round(prompts / wall, 3), "model_ms_all": [round(t * 1000) for t in times],
            "cached_nodes": sorted(cached, key=int)}  # fmt: skip


def floor_paced(url: str, size: int, steps: int, prompts: int, pause: float) -> dict[str, Any]:
    """The floor's prompt paced as the stream's latency phase paces its frames: each queued a
    ``pause`` after the one before finished (the machine idles between them, as it does between
    those frames), alternated with back-to-back pairs so both see the same drift."""
    graph = workflow(size, steps)
    cached: set[str] = set()
    paced: list[float] = []
    back_to_back: list[float] = []
    for _ in range(prompts):
        time.sleep(pause)
        paced += prompt_times(url, [graph], cached)
        back_to_back += prompt_times(url, [graph] * 2, cached)[1:]  # the second runs right after
    return {"prompts": prompts, "pause_ms": round(pause * 1000),
            "paced_ms_median": round(statistics.median(paced) * 1000, 1),
            "back_to_back_ms_median": round(statistics.median(back_to_back) * 1000, 1),
            "paced_ms_all": [round(t * 1000) for t in paced],
            "back_to_back_ms_all": [round(t * 1000) for t in back_to_back]}  # fmt: skip


def floor_batch(url: str, size: int, steps: int, prompts: int, batch: int) -> dict[str, Any]:
    """A batch of ``batch`` frames against one frame: prompts of each kind alternated back to
    back (a busy box's load drifts alike for both); medians per prompt."""
    single, many = workflow(size, steps), batched(workflow(size, steps), batch)
    cached: set[str] = set()
    prompt_times(url, [single, many], cached)  # warm-up of both shapes
    times = prompt_times(url, [single, many] * prompts, cached)
    one, all_ = statistics.median(times[0::2]) * 1000, statistics.median(times[1::2]) * 1000
    return {"prompts": prompts, "batch": batch, "single_ms_median": round(one, 1),
            "batch_ms_median": round(all_, 1), "batch_cost_in_frames": round(all_ / one, 2),
            "frames_per_s_single": round(1000 / one, 3),
            "frames_per_s_batch": round(batch * 1000 / all_, 3)}  # fmt: skip


async def stream_stats(url: str, stream_id: str) -> tuple[dict[str, Any], dict[str, Any]]:
    status = await asyncio.to_thread(request, url + "/trickle/status")
    session = next((s for s in status.get("streams", []) if s.get("stream_id") == stream_id), {})
    return session, status["comfyui"]["streams"].get(stream_id, {})


async def open_stream(url: str, params: dict[str, Any], stream_id: str) -> tuple[Any, Any]:
    orch = LocalOrchestrator()
    await orch.start()
    channels = orch.create_channels()
    gateway = GatewayStream(channels)
    gateway.start_readers()
    status, body, _ = await orch.start_stream(url, channels, params, stream_id=stream_id)
    if status != 200:
        raise SystemExit(f"start refused: {status} {body}")
    deadline = time.monotonic() + 600
    while time.monotonic() < deadline:
        _, comfy = await stream_stats(url, stream_id)
        if comfy.get("state") == "READY":
            return orch, gateway
        await asyncio.sleep(0.5)
    raise SystemExit("the stream did not load within 600 s")


async def close_stream(url: str, orch: Any, gateway: Any) -> None:
    await gateway.end_input()
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if (await asyncio.to_thread(request, url + "/health"))["status"] == "IDLE":
            break
        await asyncio.sleep(0.3)
    await gateway.close()
    await orch.close()


async def latency(
    url: str, params: dict[str, Any], frames: int, pause: float, poll_status: bool = False
) -> dict[str, Any]:
    """One-frame segments, each sent a pause of one model time after the frame before came out
    (nothing queues). ``poll_status``: learn that from ``/trickle/status`` every 0.2 s (how this
    was measured first; each request is Python work in ComfyUI's process while the model runs),
    else from the output channel's bytes, here (ComfyUI's process does nothing else)."""
    name = "bench-latency-polled" if poll_status else "bench-latency"
    orch, gateway = await open_stream(url, params, name)
    size = params["width"]
    try:
        for sent, segment in enumerate(iter_segments(frames + 1, size, size, 1.0), start=1):
            out_before = len(gateway.output.data)
            await gateway.publish([(segment, 1.0)], realtime=False)
            deadline = time.monotonic() + 120
            while sent > 1 and time.monotonic() < deadline:  # a decoder holds one frame back
                if poll_status:
                    _, comfy = await stream_stats(url, name)
                    if comfy.get("frames", 0) >= sent - 1:
                        break
                    await asyncio.sleep(0.2)
                else:
                    if len(gateway.output.data) > out_before:
                        break
                    await asyncio.sleep(0.02)
            await asyncio.sleep(pause)
        session, comfy = await stream_stats(url, name)
    finally:
        await close_stream(url, orch, gateway)
    return {"frames_out": comfy.get("frames"), "latency_ms": session.get("latency_ms"),
            "timing_ms": comfy.get("timing_ms"), "paced_by": "status" if poll_status else "output",
            "frame_plan": comfy.get("frame_plan", {}).get("active")}  # fmt: skip


async def throughput(
    url: str, pid: int, params: dict[str, Any], fps: float, seconds: float
) -> dict[str, Any]:
    orch, gateway = await open_stream(url, params, "bench-fps")
    size = params["width"]
    segments = ((s, 1.0) for s in iter_segments(seconds + 30, size, size, fps))
    publishing = asyncio.create_task(gateway.publish(segments))
    try:
        await asyncio.sleep(min(5.0, seconds / 4))  # settle
        _, first = await stream_stats(url, "bench-fps")
        cpu0, t0 = cpu_seconds(pid), time.monotonic()
        await asyncio.sleep(seconds)
        session, last = await stream_stats(url, "bench-fps")
        cpu1, t1 = cpu_seconds(pid), time.monotonic()
    finally:
        publishing.cancel()
        await asyncio.gather(publishing, return_exceptions=True)
        await close_stream(url, orch, gateway)
    frames = last["frames"] - first["frames"]
    return {"fed_fps": fps, "fps": round(frames / (t1 - t0), 3), "frames": frames,
            "cpu_ms_per_frame": round((cpu1 - cpu0) * 1000 / max(frames, 1), 1),
            "drops": session.get("drops"), "latency_ms_saturated": session.get("latency_ms"),
            "timing_ms_saturated": last.get("timing_ms"),
            "frame_plan": last.get("frame_plan", {}).get("active")}  # fmt: skip


def gpu_memory() -> str | None:
    if shutil.which("nvidia-smi") is None:
        return None
    out = subprocess.run(["nvidia-smi", "--query-gpu=name,memory.used,memory.total",
                          "--format=csv,noheader"], capture_output=True, text=True)  # fmt: skip
    return out.stdout.strip() or None


@contextlib.contextmanager
def comfyui(comfy: Path, python: str, ckpt: Path, gpu: bool, batch: str) -> Iterator[Any]:
    """A ComfyUI with the pack and the checkpoint, ``TRICKLE_BATCH=batch``; (url, process)."""
    work = Path(tempfile.mkdtemp(prefix="trickle-diffusion-"))
    (work / "custom_nodes").mkdir()
    (work / "custom_nodes" / "trickle-live").symlink_to(ROOT, target_is_directory=True)
    (work / "models" / "checkpoints").mkdir(parents=True)
    (work / "models" / "checkpoints" / "sd_turbo.safetensors").symlink_to(ckpt.resolve())
    port = free_port()
    cmd = [python, "main.py", "--listen", "127.0.0.1", "--port", str(port), "--base-directory",
           str(work), "--disable-api-nodes"] + ([] if gpu else ["--cpu"])  # fmt: skip
    env = {**os.environ, "PYTHONUNBUFFERED": "1", "TRICKLE_INPUT_TIMEOUT": "120",
           "TRICKLE_BATCH": batch}  # fmt: skip
    log = (work / "comfyui.log").open("wb")
    process = subprocess.Popen(cmd, cwd=comfy, stdout=log, stderr=subprocess.STDOUT, env=env)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 180
        while True:
            try:
                request(url + "/system_stats", timeout=2)
                break
            except (OSError, urllib.error.URLError):
                if process.poll() is not None or time.monotonic() > deadline:
                    raise SystemExit((work / "comfyui.log").read_text()[-3000:]) from None
                time.sleep(0.5)
        yield url, process
    finally:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
        log.close()
        shutil.rmtree(work, ignore_errors=True)


def stream_figures(
    url: str, pid: int, args: argparse.Namespace, model_ms: float, floor_fps: float
) -> dict[str, Any]:
    params = start_params(args.size, args.steps)
    say("stream: latency, one frame at a time")
    found = {"latency": asyncio.run(latency(url, params, args.latency_frames, model_ms / 1000))}
    if args.latency_polled:
        say("stream: latency, one frame at a time, paced by polling /trickle/status")
        found["latency_polled"] = asyncio.run(
            latency(url, params, args.latency_frames, model_ms / 1000, poll_status=True)
        )
    fed = args.feed_fps or max(2 * floor_fps, 2.0)
    say(f"stream: throughput, fed at {fed:.1f} fps for {args.seconds:.0f} s")
    found["stream"] = asyncio.run(throughput(url, pid, params, fed, args.seconds))
    status = request(url + "/trickle/status")["comfyui"].get("private_executor") or {}
    found["batches"] = {k: status.get(k) for k in ("batches", "batched_frames", "batch")}
    lat = found["latency"]["latency_ms"] or {}
    found["floor_ratio"] = round(found["stream"]["fps"] / floor_fps, 3)
    found["latency_over_model_ms"] = {k: round(lat[k] - model_ms, 1) for k in ("p50", "p95")
                                      if lat.get(k) is not None}  # fmt: skip
    return found


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--comfyui", type=Path, default=Path(os.environ.get("COMFYUI_PATH", "")))
    parser.add_argument("--checkpoint", type=Path, help="a real checkpoint instead")
    parser.add_argument("--gpu", action="store_true", help="run ComfyUI without --cpu")
    parser.add_argument("--size", type=int, default=64)
    parser.add_argument("--steps", type=int, default=1)
    parser.add_argument("--floor-prompts", type=int, default=8)
    parser.add_argument("--latency-frames", type=int, default=8)
    parser.add_argument("--seconds", type=float, default=20.0, help="throughput window")
    parser.add_argument(
        "--latency-polled", action="store_true",
        help="also measure latency paced by polling /trickle/status every 0.2 s (the old way)",
    )  # fmt: skip
    parser.add_argument("--feed-fps", type=float, help="throughput: feed rate (default: 2x floor)")
    parser.add_argument(
        "--batch", default="off",
        help="TRICKLE_BATCH values to compare, comma-separated (e.g. off,2): the stream figures "
        "are measured once per value, each in a ComfyUI of its own; a number also measures the "
        "model floor of a batch of that many frames",
    )  # fmt: skip
    parser.add_argument(
        "--floor-paced", action="store_true",
        help="also time the floor's prompt paced like the latency phase (a pause of one model "
        "time before each), alternated with back-to-back prompts",
    )  # fmt: skip
    parser.add_argument("--no-stream", action="store_true", help="the model floors only")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    comfy = args.comfyui.resolve()
    python = os.environ.get("COMFYUI_PYTHON") or str(comfy / "venv" / "bin" / "python")
    ckpt = args.checkpoint or checkpoint(comfy, python)
    values = [v.strip() for v in args.batch.split(",") if v.strip()] or ["off"]
    result: dict[str, Any] = {"runs": {}}
    for number, value in enumerate(values):
        with comfyui(comfy, python, ckpt, args.gpu, value) as (url, process):
            if number == 0:
                say(f"floor: {args.floor_prompts} prompts back to back through ComfyUI's queue")
                result["floor"] = floor(url, args.size, args.steps, args.floor_prompts)
                result["gpu_after_floor"] = gpu_memory()
                if args.floor_paced:
                    pause = result["floor"]["model_ms_median"] / 1000
                    say(f"floor: paced, a pause of {pause:.2f} s before each prompt")
                    result["floor_paced"] = floor_paced(
                        url, args.size, args.steps, args.floor_prompts, pause
                    )
            if value.isdigit() and int(value) > 1:
                say(f"floor of a batch of {value} frames, alternated with single frames")
                result.setdefault("floor_batch", {})[value] = floor_batch(
                    url, args.size, args.steps, args.floor_prompts, int(value)
                )
            if args.no_stream:
                continue
            request(url + "/free", "POST", {"unload_models": True, "free_memory": True})
            time.sleep(2)
            model_ms, floor_fps = result["floor"]["model_ms_median"], result["floor"]["fps"]
            run = stream_figures(url, process.pid, args, model_ms, floor_fps)
            run["gpu_after_stream"] = gpu_memory()
            result["runs"][value] = run
    result["machine"] = {"cpus": os.cpu_count(), "platform": platform.platform(),
                         "load": os.getloadavg(), "gpu": args.gpu, "size": args.size,
                         "steps": args.steps, "checkpoint": str(ckpt)}  # fmt: skip
    print(json.dumps(result, indent=2))
    model_ms, floor_fps = result["floor"]["model_ms_median"], result["floor"]["fps"]
    print(f"model floor: {model_ms:.0f} ms per frame ({floor_fps:.2f} fps)")
    paced = result.get("floor_paced")
    if paced:
        print(f"model floor paced like the latency phase ({paced['pause_ms']} ms pause before "
              f"each prompt): {paced['paced_ms_median']:.0f} ms against "
              f"{paced['back_to_back_ms_median']:.0f} ms back to back, alternated")  # fmt: skip
    for value, pair in result.get("floor_batch", {}).items():
        print(f"model floor, batch of {value}: {pair['batch_ms_median']:.0f} ms against "
              f"{pair['single_ms_median']:.0f} ms for one frame, alternated (a batch costs "
              f"{pair['batch_cost_in_frames']} frames)")  # fmt: skip
    for value, run in result["runs"].items():
        lat = run["latency"]["latency_ms"] or {}
        print(f"TRICKLE_BATCH={value}: stream {run['stream']['fps']:.2f} fps (fed at "
              f"{run['stream']['fed_fps']:.1f}) → floor ratio {run['floor_ratio']:.2f} (target ≥ "
              f"0.90); latency p50/p95 {lat.get('p50')}/{lat.get('p95')} ms = model + "
              f"{run['latency_over_model_ms']} ms (target ≤ +50 ms); saturated latency "
              f"{(run['stream']['latency_ms_saturated'] or {}).get('p50')} ms; "
              f"batches {run['batches']['batches']} ({run['batches']['batched_frames']} frames)")  # fmt: skip
    if args.json:
        args.json.write_text(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
