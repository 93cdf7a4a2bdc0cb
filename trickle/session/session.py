"""One live stream: input channel → decode → processor → encode → output channel (docs/architecture.md).

Threads and tasks (each owned here, cancelled and awaited in ``_teardown``):
- loop tasks: input (subscribe, feed the decoder), control (parameter updates), events (status
  every ``status_interval``, errors, traces), output (publish segments), watchdog (input idle);
- the decoder's thread (frames → input queue; while the processor is not READY also straight to
  the output, so output starts at once), the processor's own thread(s), the encoder's thread.

Output pts = input pts; frames that would go backwards (a processor catching up after loading)
are dropped and counted. The stream stops on input EOS / 404 / ``Lp-Trickle-Closed``, when no
input arrives for ``input_timeout``, when the output channel disappears, or on ``stop()``; it then
DELETEs its output and events channels (unless ``request.owns_channels`` is False: the live
runner's channels are closed by the orchestrator's release).
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections import deque
from collections.abc import Callable
from typing import Any

import aiohttp

from ..config import RunnerConfig
from ..errors import ChannelClosed, ChannelNotFound, RedirectRefused, TrickleError, ValidationError
from ..logtext import printable
from ..media.decoder import StreamDecoder
from ..media.encoder import StreamEncoder
from ..media.frame_queue import FrameQueue
from ..media.frames import AudioFrame, VideoFrame
from ..media.resize import FrameShaper
from ..media.threads import stream_threads
from ..protocol.http import make_client_session
from ..protocol.json_channels import ControlReader, EventsWriter
from ..protocol.subscriber import TrickleSubscriber
from ..redaction import redact_channel_url
from ..timeouts import wait_done, with_timeout
from .events import (
    TRACE_FIRST_INGEST,
    TRACE_FIRST_OUTPUT,
    TRACE_REQUEST,
    EventQueue,
    StatusReporter,
    error_event,
    info_event,
    trace_event,
)
from .output import EmitSink, OutputChannel
from .processor import FrameIO, FrameProcessor, ProcessorState
from .request import StartRequest
from .shape import StreamShape, parse_shape
from .stats import StreamStats
from .tasks import cancel_and_wait

log = logging.getLogger(__name__)

INPUT_QUEUE = 12  # frames; a memory bound only: input frames are dropped by age (below)
INPUT_MAX_AGE = 0.1  # s: a frame that waited longer, with a newer one behind it, is dropped
OUTPUT_QUEUE, OUTPUT_MAX_AGE = 12, 0.1  # the same policy for processed frames before the encoder
PUBLISHED_MEMORY = 64  # pts remembered to tell a superseded frame from a lost one (> INPUT_QUEUE)
DRAIN_S = 2.0
STOP_WAIT_S = 0.9  # a stop call waits this long for every task and thread of the stream to end
STALL_S = 5.0  # input paused this long: an error event (the stream goes on)
MAX_INPUT_ERRORS = 5  # input failures in a row (reads or whole segments) that stop the stream
NET_ERRORS = (TrickleError, aiohttp.ClientError, OSError, asyncio.TimeoutError)
# ai-runner treats an update carrying these three keys as an internal logging reset, not params.
_LOGGING_RESET_KEYS = {"request_id", "manifest_id", "stream_id"}


class StreamSession:
    def __init__(
        self,
        request: StartRequest,
        processor: FrameProcessor,
        config: RunnerConfig,
        *,
        on_done: Callable[[StreamSession], None] | None = None,
    ) -> None:
        self.request = request
        self.stream_id = request.key
        self.shown = printable(self.stream_id)  # for logs and task names: the caller chose the id
        self.processor = processor
        self.config = config
        self.stats = StreamStats()
        self.status = StatusReporter(request.model_id or config.model_id, self.stats)
        self.status.set_params(request.params)
        self.stop_reason: str | None = None
        self.stop_requested_at: float | None = None  # monotonic time of the first stop request
        self.failure: str | None = None  # why a part of the pipeline failed and stopped the stream
        self.control_ended = False
        self.infos: list[dict[str, Any]] = []  # the last info reports (status API)
        self._on_done = on_done
        self._stop = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._tasks: list[asyncio.Task[Any]] = []  # owned here: cancelled and awaited on stop
        self._emit_lock = threading.Lock()
        self._last_pts: int | None = None
        # the pts of the last frames published: a frame dropped after a copy of it went out
        # (published unprocessed while the workflow loaded or recovered) is not lost
        self._published: deque[int] = deque(maxlen=PUBLISHED_MEMORY)
        self._published_set: set[int] = set()
        self._published_lock = threading.Lock()
        self._latest: VideoFrame | None = None
        self._encoder: StreamEncoder | None = None
        self._input: FrameQueue[VideoFrame] = FrameQueue(
            INPUT_QUEUE, max_age=INPUT_MAX_AGE, on_drop=self._input_dropped
        )
        self._output = EmitSink(lambda f: self._emit(f, passthrough=False))
        self.shape = _shape_of(request)
        self._threads = stream_threads(config.capacity)
        self._shaper = FrameShaper(
            self.shape.width, self.shape.height, scaler_threads=self._threads.scaler
        )
        self.decoder = StreamDecoder(
            self._on_video, self._on_audio, max_fps=self.shape.max_fps,
            on_error=self._on_decode_error, on_failed=lambda m: self.fail("decoder", m),
            name=f"decoder-{self.shown}", scaler_threads=self._threads.scaler,
        )  # fmt: skip
        self.events = EventQueue()
        self._out: OutputChannel | None = None
        self.http: aiohttp.ClientSession | None = None
        self.input_subscriber: TrickleSubscriber | None = None  # set by the input task
        self._loop: asyncio.AbstractEventLoop | None = None

    # --- public -------------------------------------------------------------------------------
    def start(self) -> None:
        """Begin connecting in the background; returns at once (the HTTP reply must not wait)."""
        self._loop = asyncio.get_running_loop()
        self.events.put(trace_event(TRACE_REQUEST, self.stream_id))
        self._task = asyncio.create_task(self._run(), name=f"stream {self.shown}")

    def request_stop(self, reason: str) -> None:
        if self.stop_reason is None:
            self.stop_reason = reason
            self.stop_requested_at = time.monotonic()
            log.info("stream %s stopping: %s", self.shown, printable(reason))
        self._stop.set()

    async def stop(self, reason: str = "stop requested", timeout: float = 10.0) -> bool:
        """Ask the stream to stop and wait up to ``timeout`` s for it to end; True when every
        task and thread of the stream has ended (``alive()`` is empty), False when some still
        run (they go on ending in the background)."""
        self.request_stop(reason)
        if self._task is not None:
            await wait_done(self._task, timeout)
        return not self.alive()

    @property
    def running(self) -> bool:
        return self._task is not None and not self._task.done()

    def alive(self) -> list[str]:
        """The names of this stream's tasks and threads that have not ended yet (empty: ended)."""
        tasks = [self._task, *self._tasks]
        names = [t.get_name() for t in tasks if t is not None and not t.done()]
        if self._out is not None and self._out.running:
            names.append(f"output {self.shown}")
        if self.decoder.running:
            names.append(f"decoder {self.shown}")
        if self._encoder is not None and self._encoder.running:
            names.append(self._encoder.name)
        return names

    @property
    def stopping(self) -> bool:
        return self._stop.is_set()

    def is_stale(self, now: float | None = None) -> bool:
        """Pre-emptable: no input for ``stale_timeout``, or the control channel has ended."""
        return self.control_ended or self.stats.idle_for(now) > self.config.stale_timeout

    async def update(self, params: dict[str, Any], source: str = "api") -> dict[str, Any]:
        """Apply a parameter update; a refused one raises ValidationError and emits an error."""
        try:
            applied = await self.processor.update(params)
        except ValidationError as exc:
            self.report_error(
                f"parameter update refused: {exc}", {"source": source, **exc.as_dict()}
            )
            raise
        self.stats.params_updated()
        self.status.set_params(params)
        return applied

    def latest_frame(self) -> VideoFrame | None:
        return self._latest

    def snapshot(self) -> dict[str, Any]:
        return {
            **self.request.summary(),
            "state": self.status.state.value,
            "processor": self.processor.state.value,
            "stale": self.is_stale(),
            "stopping": self.stopping,
            "stop_reason": self.stop_reason,
            "failure": self.failure,  # what failed and stopped the stream (None: nothing)
            "shape": self.shape.as_dict(),  # requested width/height/max_framerate (None: input's)
            "fps_capped": self.decoder.stats.dropped_fps,  # input frames over max_framerate
            "info": self.infos[-3:],
            **self.stats.snapshot(self._encoder_drops()),
        }

    def _was_published(self, pts: int) -> bool:
        with self._published_lock:
            return pts in self._published_set

    def _input_dropped(self, frame: VideoFrame) -> None:
        """Under the input queue's lock: a drop, unless the frame already went out unprocessed."""
        if self._was_published(frame.pts):
            self.stats.superseded()
        else:
            self.stats.input_dropped()

    def _encoder_drops(self) -> int:
        """Frames the encoder took and dropped (too old, or queued when it closed or failed)."""
        encoder = self._encoder
        return encoder.stats.dropped if encoder is not None else 0

    # --- frame path (decoder / processor threads) ----------------------------------------------
    def _on_video(self, frame: VideoFrame) -> None:
        if self._shaper.active:
            frame = frame.with_image(self._shaper.shape(frame.image))
        self.stats.frame_in()
        self._input.put(frame)
        if self.processor.state is not ProcessorState.READY:
            self._emit(frame, passthrough=True)

    def _on_audio(self, frame: AudioFrame) -> None:
        encoder = self._encoder
        if encoder is not None:
            encoder.put_audio(frame)

    def _emit(self, frame: VideoFrame, passthrough: bool) -> None:
        with self._emit_lock:
            if self._last_pts is not None and frame.pts <= self._last_pts:
                if self._was_published(frame.pts):
                    self.stats.superseded()  # its other copy went out
                else:
                    self.stats.out_of_order()
                return
            self._last_pts = frame.pts
            with self._published_lock:
                if len(self._published) == self._published.maxlen:
                    self._published_set.discard(self._published[0])
                self._published.append(frame.pts)
                self._published_set.add(frame.pts)
            self._latest = frame
            encoder = self._encoder
            if encoder is None and self._out is not None:
                encoder = self._encoder = StreamEncoder(
                    self._out, audio=self.decoder.stats.has_audio, name=f"enc-{self.shown}",
                    queue_size=OUTPUT_QUEUE, max_age=OUTPUT_MAX_AGE,
                    threads=self._threads.encoder, scaler_threads=self._threads.scaler,
                    on_error=lambda m: self.report_error(m, {"source": "encoder"}),
                    on_failed=self._encoder_failed,
                )  # fmt: skip
                encoder.start()
        if encoder is not None and not encoder.put_video(frame):
            return  # the encoder has failed or is closing: this frame never goes out
        self.stats.frame_out(frame.received_at, passthrough)

    def _on_decode_error(self, message: str) -> None:
        self.report_error(f"input: {message}", {"source": "decoder"})

    def fail(self, source: str, message: str, detail: dict[str, Any] | None = None) -> None:
        """Any thread: a part of the pipeline (``source``: decoder, worker, encoder, publisher)
        failed and cannot go on. Logged, an ``error`` event, ``failure`` and ``last_error`` in
        the status, and the stream stops (the runner's /health is ERROR until the next start)."""
        first = self.failure is None
        if first:
            self.failure = message
            log.error("stream %s: %s failed: %s", self.shown, source, printable(message))
        self.report_error(message, {**(detail or {}), "source": source})
        if first:
            self._call_on_loop(self.request_stop, f"failed: {message}")

    def _encoder_failed(self, message: str) -> None:
        """Encode thread: the frames it had taken and will never encode count as its drops."""
        self.fail("encoder", message)

    def _call_on_loop(self, callback: Callable[..., None], *args: Any) -> None:
        """Run ``callback`` on the stream's loop: at once from the loop, else soon (threadsafe)."""
        loop = self._loop
        try:
            current: asyncio.AbstractEventLoop | None = asyncio.get_running_loop()
        except RuntimeError:
            current = None
        if loop is None or current is loop:
            callback(*args)
            return
        try:
            loop.call_soon_threadsafe(callback, *args)
        except RuntimeError:  # loop closed: the stream is gone
            pass

    def report_error(self, message: str, detail: dict[str, Any]) -> None:
        self.stats.error(message)
        self.events.put_threadsafe(self._loop, error_event(self.status.pipeline, message, detail))

    def _report_info(self, message: str, detail: dict[str, Any]) -> None:
        """Any thread: logged and published as an ``info`` event."""
        log.info("stream %s: %s %s", self.shown, printable(message), printable(detail))
        self.infos = [*self.infos[-9:], {"message": message, **detail}]
        self.events.put_threadsafe(self._loop, info_event(self.status.pipeline, message, detail))

    # --- lifecycle -----------------------------------------------------------------------------
    async def _run(self) -> None:
        try:
            await self._setup()
            await self._stop.wait()
        except Exception as exc:  # task boundary: a broken setup stops the stream, reported
            log.exception("stream %s failed", self.shown)
            self.fail("session", f"stream failed: {exc}")
        finally:
            await self._teardown()
            if self._on_done is not None:
                self._on_done(self)

    async def _setup(self) -> None:
        """Open the channels. The input runs before the processor starts: while it loads (even
        if its ``start`` is slow), the input is published unchanged."""
        req, cfg = self.request, self.config
        self.http = make_client_session(verify_tls=cfg.verify_tls)
        if req.events_url:
            self._spawn(self._run_events(req.events_url), "events")
        if req.publish_url:
            self._out = OutputChannel(
                req.publish_url, asyncio.get_running_loop(), self.stats, session=self.http,
                on_first_segment=self._first_output, on_gone=self._output_gone,
                on_failed=lambda m: self.fail("publisher", m),
                on_error=lambda message: self.report_error(message, {"source": "output"}),
            )  # fmt: skip
            self._out.start()
        self.decoder.start()
        if req.subscribe_url:
            self._spawn(self._run_input(req.subscribe_url), "input")
        self._spawn(self._watchdog(), "watchdog")
        io = FrameIO(
            self.stream_id, self._input, self._output, dict(req.params),
            report_error=self.report_error, report_info=self._report_info,
            fail=lambda message, detail: self.fail("worker", message, detail),
        )  # fmt: skip
        await self.processor.start(io)
        if req.control_url:
            self._spawn(self._run_control(req.control_url), "control")

    def _spawn(self, coro: Any, what: str) -> None:
        self._tasks.append(asyncio.create_task(coro, name=f"{what} {self.shown}"))

    def _first_output(self) -> None:
        self.events.put(trace_event(TRACE_FIRST_OUTPUT, self.stream_id))

    def _first_input(self) -> None:
        self.events.put(trace_event(TRACE_FIRST_INGEST, self.stream_id))

    def _output_gone(self, reason: str) -> None:
        self.request_stop(f"output channel closed ({reason})")

    # --- channel tasks (loop): input, control, events; each closes what it opened ---------------
    async def _run_events(self, url: str) -> None:
        """Publish queued events; a ``status`` event at once and then every ``status_interval``."""
        writer = EventsWriter(url, session=self.http, verify_tls=self.config.verify_tls)
        interval = self.config.status_interval
        next_status = time.monotonic()
        try:
            while True:
                try:
                    wait = max(0.0, next_status - time.monotonic())
                    event = await with_timeout(self.events.queue.get(), wait)
                except asyncio.TimeoutError:
                    self.refresh_state()
                    event = self.status.status_event()
                    next_status = time.monotonic() + interval
                if event is None:
                    break
                try:
                    await writer.send(event)
                except (ChannelNotFound, ChannelClosed) as exc:
                    log.info("stream %s: events channel gone: %s", self.shown, exc)
                    return
                except NET_ERRORS as exc:
                    log.warning("stream %s: event not sent: %s", self.shown, exc)
        finally:
            await _close(writer.close(delete=self.request.owns_channels), "events close")

    async def _run_input(self, url: str) -> None:
        """Feed the input channel's bytes to the decoder as they arrive; stop the stream at its end."""
        sub = TrickleSubscriber(
            url, start_seq=-2, session=self.http, verify_tls=self.config.verify_tls
        )
        self.input_subscriber = sub  # the watchdog sees whether the input was ever reached
        errors = 0
        first = True
        try:
            while True:
                try:
                    segment = await sub.next_segment()
                except (ChannelNotFound, ChannelClosed):
                    segment = None
                except RedirectRefused as exc:  # the input is somewhere else: never followed
                    self.report_error(f"input: {exc}", {"source": "input"})
                    self.request_stop(f"input failed: {exc}")
                    return
                except NET_ERRORS as exc:
                    errors += 1
                    self.report_error(f"input: {exc}", {"source": "input"})
                    if errors > MAX_INPUT_ERRORS:
                        self.request_stop(f"input failed: {exc}")
                        return
                    await asyncio.sleep(0.5)
                    continue
                if segment is None:
                    self.request_stop("input ended (channel closed)")
                    return
                self.stats.input_segment()
                if first:
                    first = False
                    self._first_input()
                try:
                    async for chunk in segment.chunks():
                        self.stats.input_bytes(len(chunk))
                        self.decoder.feed(chunk)
                    if segment.complete:  # each segment may be its own TS muxer run (WHIP ingest)
                        self.decoder.end_segment()
                    errors = 0
                except NET_ERRORS as exc:
                    errors += 1
                    self.report_error(
                        f"input segment {segment.seq} cut short: {exc}", {"source": "input"}
                    )
        finally:
            await _close(sub.close(), "input close")

    async def _run_control(self, url: str) -> None:
        """Apply each control message as a parameter update (keepalives are skipped by the reader)."""

        def malformed(seq: int, why: str) -> None:
            self.report_error(
                f"control message skipped: {why}", {"source": "control", "segment": seq}
            )

        reader = ControlReader(
            url, session=self.http, verify_tls=self.config.verify_tls, on_malformed=malformed
        )
        try:
            async for message in reader:
                if _LOGGING_RESET_KEYS <= set(message):
                    continue
                try:
                    await self.update(message, source="control")
                except ValidationError:
                    pass  # reported as an error event by update()
                except Exception as exc:  # task boundary: a processor bug must not end the stream
                    log.exception("stream %s: update failed", self.shown)
                    self.report_error(f"parameter update failed: {exc}", {"source": "control"})
            log.info("stream %s: control channel ended", self.shown)
        except NET_ERRORS as exc:
            log.info("stream %s: control channel failed: %s", self.shown, exc)
        finally:
            self.control_ended = True
            await _close(reader.close(), "control close")

    async def _watchdog(self) -> None:
        """Stop after ``input_timeout`` without input; report a stall (input that had begun and
        paused for ``STALL_S``, or half the timeout if shorter) once as an ``error`` event. An
        input that was never reached (every request failed to connect) for that long ends the
        stream with an ``error`` event at once."""
        tick = min(1.0, self.config.input_timeout / 4)
        stall_after = min(STALL_S, self.config.input_timeout / 2)
        stalled = False
        while not self._stop.is_set():
            await asyncio.sleep(tick)
            idle = self.stats.idle_for()
            unreachable = self._input_unreachable(stall_after)
            if unreachable is not None:
                shown = redact_channel_url(self.request.subscribe_url, has_seq=False)
                message = f"input {shown} never connected in {idle:.1f}s: {unreachable}"
                self.report_error(message, {"source": "input"})
                self.request_stop(f"input never connected ({shown})")
            elif idle > self.config.input_timeout:
                self.report_error(f"no input for {idle:.0f}s", {"source": "input"})
                self.request_stop(f"no input for {self.config.input_timeout:g}s")
            elif self.stats.last_input_time is not None and (idle > stall_after) != stalled:
                stalled = not stalled
                if stalled:
                    message = f"input stalled: no input for {idle:.1f}s"
                    self.report_error(message, {"source": "input", "idle_s": round(idle, 1)})
                else:
                    self._report_info("input resumed", {"source": "input"})
            self.refresh_state()

    def _input_unreachable(self, after: float) -> str | None:
        """Why the input was never reached, once every request for ``after`` seconds has failed
        to connect (no answer of any kind, no byte); None while it may still come."""
        sub = self.input_subscriber
        if sub is None or sub.responses or not sub.connect_failures:
            return None
        if self.stats.last_input_time is not None or self.stats.idle_for() < after:
            return None
        return sub.last_failure or "no connection"

    def refresh_state(self) -> None:
        state = self.processor.state
        self.status.update_state(
            processor_ready=state is ProcessorState.READY,
            processor_error=state is ProcessorState.ERROR,
            stopped=self._stop.is_set(),
        )

    def _drained(self) -> bool:
        """Every input frame the processor took has come out (one output per input)."""
        taken = self._input.put_count - self._input.dropped - len(self._input)
        return len(self._input) == 0 and self._output.put_count >= taken

    async def _teardown(self) -> None:
        tasks = self._tasks
        events_task = next((t for t in tasks if t.get_name().startswith("events")), None)
        await cancel_and_wait(t for t in tasks if t is not events_task)
        loop = asyncio.get_running_loop()
        graceful = self.stop_reason is not None and self.stop_reason.startswith("input ended")
        if graceful:  # decode what arrived and let the processor finish it (bounded)
            self.decoder.end()
            await loop.run_in_executor(None, self.decoder.wait, DRAIN_S)
            if self.processor.state is ProcessorState.READY:
                await _wait_until(self._drained, DRAIN_S)
        await loop.run_in_executor(None, self.decoder.close, 5.0)
        self._input.close()
        await _safely(self.processor.stop(), "processor stop")
        self._output.close()
        if self._encoder is not None:
            await loop.run_in_executor(None, self._encoder.close, 5.0)
        if self._out is not None:
            await self._out.close(delete=self.request.owns_channels)
        self.refresh_state()
        self.events.close(self.status.status_event(), self.stop_reason)
        if events_task is not None:
            await asyncio.wait({events_task}, timeout=5.0)
            await cancel_and_wait([events_task])
        if self.http is not None:
            await self.http.close()
        log.info("stream %s stopped (%s)", self.shown, printable(self.stop_reason))


def _shape_of(request: StartRequest) -> StreamShape:
    """The requested input shape (checked when the request was parsed; a request built in code
    with a bad value gets none, logged)."""
    try:
        return parse_shape(request.params)
    except ValidationError as exc:
        log.warning(
            "stream %s: start parameters ignored: %s", printable(request.key), printable(exc)
        )
        return StreamShape()


async def _wait_until(predicate: Callable[[], bool], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not predicate() and time.monotonic() < deadline:
        await asyncio.sleep(0.02)


async def _close(coro: Any, what: str) -> None:
    try:
        await coro
    except NET_ERRORS as exc:
        log.info("%s: %s", what, exc)


async def _safely(coro: Any, what: str) -> None:
    try:
        await coro
    except Exception:  # task boundary: a plugged-in processor may raise anything; logged
        log.exception("%s failed", what)
