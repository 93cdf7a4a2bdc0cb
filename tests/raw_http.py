"""Raw HTTP/1.1 over a loopback socket, for the tests that need the exact bytes on the wire (request
targets no client would send as they are, malformed requests)."""

from __future__ import annotations

import asyncio


async def exchange(port: int, data: bytes, timeout: float = 10.0) -> tuple[bytes, bytes]:
    """Send ``data`` as it is to 127.0.0.1:``port``; the answer's head and body (read to EOF)."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(data)
        await writer.drain()
        answer = await asyncio.wait_for(reader.read(), timeout=timeout)
    finally:
        writer.close()
        await writer.wait_closed()
    head, _, body = answer.partition(b"\r\n\r\n")
    return head, body


async def raw_request(
    port: int,
    method: str,
    target: str,
    headers: dict[str, str],
    *,
    content_type: str | None = None,
    timeout: float = 5.0,
) -> tuple[int, bytes]:
    """One request with the exact request target (no client-side path cleaning); a POST carries
    ``{}`` (with ``content_type`` where given). Returns (status, body)."""
    lines = [f"{method} {target} HTTP/1.1", f"Host: 127.0.0.1:{port}", "Connection: close"]
    lines += [f"{k}: {v}" for k, v in headers.items()]
    body = "{}" if method == "POST" else ""
    if body and content_type is not None:
        lines.append(f"Content-Type: {content_type}")
    if body:
        lines.append(f"Content-Length: {len(body)}")
    head, payload = await exchange(port, ("\r\n".join(lines) + "\r\n\r\n" + body).encode(), timeout)
    return int(head.split()[1]), payload
