"""``python -m trickle demo``: one live stream end to end on this machine, with a summary.

Plays the orchestrator (an in-process trickle server on loopback that creates the stream's four
channels) and the gateway (publishes a generated clip, or ``--input FILE``, in real time; sends a
parameter update midway; reads output and events). The runner is the standalone one in this
process, or a ComfyUI with the pack (``--comfy URL``). The start request is exactly what an
orchestrator sends. The output is written to an MP4 file.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import aiohttp

from ..config import RunnerConfig
from ..errors import MediaError, ValidationError
from ..media.remux import count_video_frames, file_to_ts, segment_durations, ts_to_mp4
from ..media.resize import MAX_SIDE, MIN_SIDE
from ..media.testclip import make_test_clip, split_segments
from ..runner.app import RunnerServer, build_app
from ..runner.simulator import GatewayStream, LocalOrchestrator
from ..session.processors import PROCESSORS
from ..session.workflow_spec import BUNDLED_DIR

DEMO_RADIUS = 8  # --comfy without --params/--update: blur radius until the midway update
HELP = "run one stream end to end (orchestrator + gateway + runner) and write the output to MP4"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--seconds", type=float, default=10.0, help="clip length (default 10)")
    parser.add_argument(
        "--input", default=None, help="a video file to stream instead of a test clip"
    )
    parser.add_argument("--out", default="out/demo.mp4", help="output MP4 (default out/demo.mp4)")
    parser.add_argument(
        "--comfy",
        default=None,
        help="URL of a ComfyUI with the pack (else in-process); without --params/--update it "
        "runs the bundled blur workflow and sets radius 8 -> 1 midway",
    )
    parser.add_argument(
        "--processor",
        choices=sorted(PROCESSORS),
        default="invert",
        help="frame processor of the in-process runner (default invert, so the midway update is "
        "visible: inverted, then not; `runner` itself defaults to passthrough); ignored with --comfy",
    )
    parser.add_argument(
        "--size",
        default="512x512",
        help="test clip WIDTHxHEIGHT, even numbers from 16 to 4096 (default 512x512)",
    )
    parser.add_argument("--fps", type=float, default=30.0, help="test clip frame rate (default 30)")
    parser.add_argument(
        "--params", default=None, help="start params as JSON ('{}': the runner's own workflow)"
    )
    parser.add_argument("--update", default=None, help="parameter update sent midway, as JSON")
    parser.add_argument("--token", default="", help="bearer token for the runner")
    parser.add_argument("--model-id", default="comfystream", help="model_id of the start request")


def _json_arg(text: str | None, name: str) -> dict[str, Any] | None:
    if text is None:
        return None
    value = json.loads(text)
    if not isinstance(value, dict):
        raise ValidationError(name, "a JSON object", value)
    return value


def _plan(args: argparse.Namespace) -> tuple[dict[str, Any] | None, dict[str, Any] | None]:
    params, update = _json_arg(args.params, "--params"), _json_arg(args.update, "--update")
    if not args.comfy and args.processor == "invert":
        params = {"strength": 1.0} if params is None else params
        # midway the picture turns from inverted back to the original: a change anyone can see
        update = {"strength": 0.0} if update is None else update
    elif args.comfy and params is None and update is None:
        # the bundled blur workflow (core nodes, CPU) blurred, then sharp from midway
        workflow = json.loads((BUNDLED_DIR / "blur.api.json").read_text())
        workflow["2"]["inputs"]["value"] = DEMO_RADIUS
        params, update = {"prompt": workflow}, {"radius": 1}
    return params, update


def parse_size(text: str) -> tuple[int, int]:
    """``WIDTHxHEIGHT`` with even sides from 16 to 4096 (H.264 4:2:0 needs even sides)."""
    width, sep, height = text.lower().partition("x")
    expected = f"WIDTHxHEIGHT with even numbers from {MIN_SIDE} to {MAX_SIDE}, e.g. 512x512"
    if not sep or not width.strip().isdigit() or not height.strip().isdigit():
        raise ValidationError("--size", expected, text)
    w, h = int(width), int(height)
    if not all(MIN_SIDE <= v <= MAX_SIDE and v % 2 == 0 for v in (w, h)):
        raise ValidationError("--size", expected, text)
    return w, h


def _check_args(args: argparse.Namespace) -> None:
    """Every mistake a user can make on the command line, found before anything starts."""
    parse_size(args.size)
    if not 0 < args.seconds <= 3600:
        raise ValidationError("--seconds", "a number of seconds in (0, 3600]", args.seconds)
    if not 0 < args.fps <= 240:
        raise ValidationError("--fps", "a frame rate in (0, 240]", args.fps)
    if args.input and not Path(args.input).is_file():
        raise ValidationError("--input", "an existing video file", args.input)
    if args.comfy:
        parts = urlsplit(args.comfy)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValidationError(
                "--comfy", "ComfyUI's URL, e.g. http://127.0.0.1:8188", args.comfy
            )


def _clip(args: argparse.Namespace) -> bytes:
    if args.input:
        try:
            return file_to_ts(args.input, args.seconds)
        except MediaError as exc:
            cause = exc.__cause__
            reason = getattr(cause, "strerror", None) or str(exc)
            raise UsageError(
                f"--input {args.input}: not a video file PyAV can read ({reason}); "
                "give an MP4, MKV, MOV or TS file with a video stream"
            ) from None
    width, height = parse_size(args.size)
    return make_test_clip(args.seconds, width, height, args.fps, keyframe_seconds=1.0)


class UsageError(Exception):
    """A user mistake: one line on stderr saying what is wrong and what to do, exit 2."""


async def _get(http: aiohttp.ClientSession, url: str) -> Any:
    try:
        async with http.get(url) as resp:
            return await resp.json() if resp.status == 200 else None
    except (aiohttp.ClientError, json.JSONDecodeError, asyncio.TimeoutError):
        return None


async def run_demo(args: argparse.Namespace, out: Any) -> int:
    _check_args(args)
    params, update = _plan(args)
    data = _clip(args)
    segments = split_segments(data)
    durations = segment_durations(segments)
    orch = LocalOrchestrator()
    await orch.start()
    server: RunnerServer | None = None
    try:
        if args.comfy:
            runner_url = args.comfy.rstrip("/")
        else:
            config = RunnerConfig.from_env(token=args.token)
            server = RunnerServer(build_app(config, args.processor))
            runner_url = await server.start()
        return await _stream(args, out, orch, runner_url, data, segments, durations, params, update)
    finally:
        if server is not None:
            await server.close()
        await orch.close()


async def _stream(
    args: argparse.Namespace,
    out: Any,
    orch: LocalOrchestrator,
    runner_url: str,
    data: bytes,
    segments: list[bytes],
    durations: list[float],
    params: dict[str, Any] | None,
    update: dict[str, Any] | None,
) -> int:
    assert orch.http is not None
    health = await _get(orch.http, runner_url + "/health")
    if health is None and args.comfy:
        raise UsageError(
            f"--comfy {args.comfy}: no ComfyUI with this pack answers there (GET /health); start "
            "ComfyUI with trickle-live in custom_nodes, or leave --comfy out to use the "
            "in-process runner"
        )
    version = await _get(orch.http, runner_url + "/version")
    out.write(f"runner {runner_url}: health {health}, version {version}\n")
    channels = orch.create_channels()
    gateway = GatewayStream(channels)
    gateway.start_readers()
    try:
        status, body, took = await orch.start_stream(
            runner_url, channels, params, token=args.token, model_id=args.model_id
        )
        out.write(f"start: HTTP {status} {json.dumps(body)} in {took * 1000:.1f} ms\n")
        if status != 200:
            return 1
        began = time.monotonic()
        half = max(1, len(segments) // 2)
        out.write(f"publishing {len(segments)} segments ({sum(durations):.1f} s) in real time...\n")
        await gateway.publish(zip(segments[:half], durations[:half], strict=True))
        if update:
            await gateway.send_control(update)
            out.write(f"update sent at {time.monotonic() - began:.1f} s: {json.dumps(update)}\n")
        await gateway.publish(zip(segments[half:], durations[half:], strict=True))
        await gateway.end_input()
        deadline = time.monotonic() + 15
        while gateway.output.end_reason is None and time.monotonic() < deadline:
            await asyncio.sleep(0.1)
        page = await _get(orch.http, runner_url + "/trickle/status")
    finally:
        orch.close_channels(channels)
        await gateway.close()
    _summary(args, out, data, gateway, page, began)
    return 0 if gateway.output.data else 1


def _summary(
    args: argparse.Namespace, out: Any, data: bytes, gateway: GatewayStream, page: Any, began: float
) -> None:
    output = bytes(gateway.output.data)
    frames_in = count_video_frames(data)
    frames_out = ts_to_mp4(output, args.out) if output else 0
    log = gateway.output
    first = (log.first_at - began) if log.first_at else None
    span = (log.last_at - log.first_at) if log.first_at and log.last_at else 0.0
    stream = (page or {}).get("recent", [{}])[-1] if page else {}
    latency = stream.get("latency_ms", {})
    kinds = Counter(gateway.event_types())
    states = [
        e["event"].get("state") for _, e in gateway.events if e["event"].get("type") == "status"
    ]
    passthrough = stream.get("frames_passthrough")
    drops = stream.get("drops", "?")
    rows = [
        ("frames in / out", f"{frames_in} / {frames_out}"),
        (
            "published unprocessed",
            f"{passthrough if passthrough is not None else '?'} (while the workflow loaded, the "
            "input goes out as it came, so the output never waits)",
        ),
        ("output segments", f"{log.segments} ({len(output)} bytes)"),
        ("first output after", f"{first:.2f} s" if first is not None else "never"),
        ("output rate", f"{frames_out / span:.1f} fps" if span > 0 else "n/a"),
        ("runner latency p50 / p95", f"{latency.get('p50')} / {latency.get('p95')} ms"),
        (
            "drops / errors",
            f"{drops} / {stream.get('errors', '?')} (a drop: a frame that waited over 100 ms "
            "behind a newer one because the workflow was slower than the input)",
        ),
        ("events", ", ".join(f"{k} {v}" for k, v in sorted(kinds.items()))),
        ("info / error events", "; ".join(_messages(gateway)) or "none"),
        ("status states", " > ".join(dict.fromkeys(s for s in states if s))),
        ("stream ended", f"{log.end_reason} ({stream.get('stop_reason', '?')})"),
        ("output file", args.out if output else "(none: no output)"),
    ]
    width = max(len(name) for name, _ in rows)
    out.write("\n".join(f"  {name.ljust(width)}  {value}" for name, value in rows) + "\n")


def _messages(gateway: GatewayStream) -> list[str]:
    """What the runner said in its info and error events (workflow loaded, update applied...)."""
    kinds = ("info", "error")
    found = [e["event"] for _, e in gateway.events if e["event"].get("type") in kinds]
    return [f"{e['type']}: {str(e.get('message', ''))[:80]}" for e in found]


def run(args: argparse.Namespace) -> int:
    try:
        return asyncio.run(run_demo(args, sys.stdout))
    except (UsageError, ValidationError, MediaError) as exc:
        sys.stderr.write(f"demo: {exc}\n")
        return 2
    except json.JSONDecodeError as exc:
        sys.stderr.write(f"demo: --params/--update: not JSON ({exc.msg} at {exc.pos})\n")
        return 2
    except aiohttp.ClientError as exc:
        where = args.comfy or "the in-process runner"
        sys.stderr.write(f"demo: lost the connection to {where}: {type(exc).__name__}\n")
        return 2
