"""The operator's command line: ``python -m trickle serve|publish|subscribe`` from the repository
root, as separate processes talking over loopback."""

from __future__ import annotations

import asyncio
import re
import signal
import sys
from pathlib import Path

import aiohttp
import pytest

ROOT = Path(__file__).resolve().parents[2]


async def spawn(*args: str) -> asyncio.subprocess.Process:
    return await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "trickle",
        *args,
        cwd=ROOT,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )


async def done(proc: asyncio.subprocess.Process, timeout: float = 30) -> tuple[int, str, str]:
    out, err = await asyncio.wait_for(proc.communicate(), timeout)
    assert proc.returncode is not None
    return proc.returncode, out.decode(errors="replace"), err.decode(errors="replace")


async def test_serve_publish_subscribe(tmp_path):
    server = await spawn("serve", "--port", "0", "--base-path", "/ai/trickle/", "--channel", "ch")
    try:
        line = (await asyncio.wait_for(server.stdout.readline(), 30)).decode()  # type: ignore[union-attr]
        url = line.split()[3] + "ch"
        assert url.startswith("http://127.0.0.1:") and "/ai/trickle/ch" in url
        files = []
        for i, body in enumerate((b"first segment", b"", b"\x00" * 100_000)):
            files.append(tmp_path / f"in{i}.ts")
            files[-1].write_bytes(body)
        out = tmp_path / "out"
        sub = await spawn("subscribe", url, "--from", "0", "--out", str(out))
        await asyncio.sleep(1.5)  # the subscriber's interpreter starts and waits on seq 0
        # --keep: a DELETE right after the last POST may beat a slow subscriber's GET of it
        # (the channel is then gone: protocol semantics), so delete once all three arrived
        code, stdout, err = await done(await spawn("publish", url, *map(str, files), "--keep"))
        assert code == 0, err
        assert stdout.count(url) == 3
        for _ in range(300):
            if out.is_dir() and len(list(out.iterdir())) == 3:
                break
            await asyncio.sleep(0.05)
        async with aiohttp.ClientSession() as http, http.delete(url) as resp:
            assert resp.status == 200
        code, _, err = await done(sub)  # the channel is deleted: the subscriber ends
        assert code == 0 and re.search(
            r"channel ended \((closed|not_found)\) after 3 segments", err
        )
        assert sorted(p.name for p in out.iterdir()) == ["000000.ts", "000001.ts", "000002.ts"]
        assert [(out / f"00000{i}.ts").read_bytes() for i in range(3)] == [
            f.read_bytes() for f in files
        ]
    finally:
        server.send_signal(signal.SIGTERM)
        code, _, err = await done(server)
    assert code == 0, err


async def test_subscribe_to_stdout(tmp_path):
    server = await spawn("serve", "--port", "0", "--autocreate")
    try:
        url = (await asyncio.wait_for(server.stdout.readline(), 30)).decode().split()[3] + "live"  # type: ignore[union-attr]
        seg = tmp_path / "seg.bin"
        seg.write_bytes(b"hello stdout")
        code, _, err = await done(await spawn("publish", url, str(seg), "--keep"))
        assert code == 0, err
        code, out, err = await done(await spawn("subscribe", url, "--from", "-2", "--count", "1"))
        assert (code, out) == (0, "hello stdout"), err
        # a channel nobody created: a clear error, exit status 1, no traceback
        code, _, err = await done(await spawn("subscribe", url + "-missing"))
        assert code == 1 and "error: channel not found" in err and "Traceback" not in err
    finally:
        server.send_signal(signal.SIGTERM)
        await done(server)


@pytest.mark.parametrize(
    "args, message",
    [
        (("subscribe", "not-a-url"), "expected a channel URL"),
        (("subscribe", "http://127.0.0.1:9/ch", "--from", "-7"), "expected -1, -2"),
        (("publish", "http://127.0.0.1:9/ch", "/no/such/file.ts"), "not a readable file"),
        (("serve", "--port", "70000"), "--port must be"),
    ],
)
async def test_bad_input_exits_2_without_traceback(args, message):
    code, _, err = await done(await spawn(*args))
    assert code == 2 and message in err and "Traceback" not in err


async def test_unreachable_server_is_a_clear_error(tmp_path):
    seg = tmp_path / "s.ts"
    seg.write_bytes(b"x")
    code, _, err = await done(await spawn("publish", "http://127.0.0.1:9/ch", str(seg)))
    assert code == 1 and "error:" in err and "Traceback" not in err
