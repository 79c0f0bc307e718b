"""Servers the remote tests point tokenlat-tui at, by URL.

- `transformers serve` on the embedded model saved to a folder (a real OpenAI-compatible server);
- `ServerThread`: an aiohttp web app on 127.0.0.1 in a thread of its own, for what `transformers
  serve` can't show (Ollama's protocol, written from its API docs; stalls; malformed events; HTTP
  errors; TLS). The client under test runs in another process or on another event loop.
"""

from __future__ import annotations

import asyncio
import json
import os
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path

from profiler.backends.byte_tokenizer import BOS_ID, EOS_ID, PAD_ID

CHAT_TEMPLATE = "{% for m in messages %}{{ m['content'] }}\n{% endfor %}"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _byte_level_alphabet() -> dict[int, str]:
    """GPT-2's byte -> printable character map (what tokenizers' ByteLevel pre-tokenizer uses)."""
    printable = list(range(ord("!"), ord("~") + 1)) + list(range(0xA1, 0xAD)) + list(range(0xAE, 0x100))
    chars = printable[:]
    extra = 0
    for byte in range(256):
        if byte not in printable:
            printable.append(byte)
            chars.append(256 + extra)
            extra += 1
    return {byte: chr(char) for byte, char in zip(printable, chars)}


def save_embedded_model(backend, folder: Path) -> Path:
    """The embedded model's weights plus a Hugging Face tokenizer with its byte vocabulary (ids 0-255
    are bytes, then pad/bos/eos), so `transformers serve` and `--tokenizer` can load the folder."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    backend.model.save_pretrained(folder)
    vocab = {char: byte for byte, char in _byte_level_alphabet().items()}
    vocab.update({"<pad>": PAD_ID, "<s>": BOS_ID, "</s>": EOS_ID, "<unused>": EOS_ID + 1})
    tokenizer = Tokenizer(models.BPE(vocab=vocab, merges=[]))
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False)
    tokenizer.decoder = decoders.ByteLevel()
    fast = PreTrainedTokenizerFast(tokenizer_object=tokenizer, bos_token="<s>", eos_token="</s>", pad_token="<pad>")
    fast.chat_template = CHAT_TEMPLATE
    fast.save_pretrained(folder)
    return folder


class TransformersServe:
    """`transformers serve FOLDER` on 127.0.0.1:free port, offline; stopped (and waited for) on exit."""

    def __init__(self, folder: Path, log: Path, startup_s: float = 120.0) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        env = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "OMP_NUM_THREADS": "1"}
        command = [sys.executable, "-c", "from transformers.cli.transformers import main; main()", "serve",
                   str(folder), "--host", "127.0.0.1", "--port", str(self.port), "--device", "cpu"]
        self._log = open(log, "wb")
        self.process = subprocess.Popen(command, stdout=self._log, stderr=subprocess.STDOUT, env=env)
        deadline = time.monotonic() + startup_s
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"transformers serve exited ({self.process.returncode}): {log.read_text()[-2000:]}")
            try:
                with urllib.request.urlopen(f"{self.url}/health", timeout=2) as response:
                    if response.status == 200:
                        return
            except OSError:
                time.sleep(0.5)
        self.stop()
        raise RuntimeError(f"transformers serve did not become healthy in {startup_s:.0f} s")

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self._log.close()


class ServerThread:
    """An aiohttp `web.Application` served on 127.0.0.1 from its own thread and event loop."""

    def __init__(self, app, ssl_context=None) -> None:
        self.app = app
        self.port = free_port()
        scheme = "https" if ssl_context else "http"
        self.url = f"{scheme}://127.0.0.1:{self.port}"
        self._ssl = ssl_context
        self._ready = threading.Event()
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()
        if not self._ready.wait(10):
            raise RuntimeError("test server did not start")

    def _serve(self) -> None:
        from aiohttp import web

        asyncio.set_event_loop(self._loop)
        runner = web.AppRunner(self.app, handle_signals=False)
        self._loop.run_until_complete(runner.setup())
        site = web.TCPSite(runner, "127.0.0.1", self.port, ssl_context=self._ssl)
        self._loop.run_until_complete(site.start())
        self._runner = runner
        self._ready.set()
        self._loop.run_forever()
        self._loop.run_until_complete(runner.cleanup())
        self._loop.close()

    def stop(self) -> None:
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)

    def __enter__(self) -> ServerThread:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.stop()


def sse(payload) -> bytes:
    return f"data: {payload if isinstance(payload, str) else json.dumps(payload)}\n\n".encode()


def chat_chunk(content: str | None = None, *, role: str | None = None, finish: str | None = None,
               usage: dict | None = None) -> dict:
    delta = {}
    if role:
        delta["role"] = role
    if content is not None:
        delta["content"] = content
    chunk = {"id": "x", "object": "chat.completion.chunk", "model": "scripted",
             "choices": [{"index": 0, "delta": delta, **({"finish_reason": finish} if finish else {})}]}
    if usage:
        chunk["usage"] = usage
    return chunk


def self_signed_context(folder: Path):
    """A server-side SSL context with a fresh self-signed certificate for 127.0.0.1."""
    import datetime
    import ipaddress
    import ssl

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - datetime.timedelta(days=1))
            .not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), False)
            .sign(key, hashes.SHA256()))
    cert_path, key_path = folder / "cert.pem", folder / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert_path, key_path)
    return context


class RawServer:
    """A TCP server on 127.0.0.1 that answers every connection with `script(sock)`, in a thread.

    For what an HTTP framework won't send: a body cut by FIN or RST, a bad chunk-size line, a body
    delimited by the connection's close, a line of many megabytes. The request is read (headers and a
    Content-Length body) before the script runs; the socket is closed after it unless the script did.
    """

    def __init__(self, script) -> None:
        self.script = script
        self._listener = socket.socket()
        self._listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._listener.bind(("127.0.0.1", 0))
        self._listener.listen(16)
        self.port = self._listener.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self.requests: list[bytes] = []
        self._stopped = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        while not self._stopped.is_set():
            try:
                conn, _ = self._listener.accept()
            except OSError:
                return
            threading.Thread(target=self._answer, args=(conn,), daemon=True).start()

    def _answer(self, conn: socket.socket) -> None:
        try:
            data = b""
            while b"\r\n\r\n" not in data:
                piece = conn.recv(65536)
                if not piece:
                    return
                data += piece
            head, _, body = data.partition(b"\r\n\r\n")
            length = next((int(line.split(b":", 1)[1]) for line in head.split(b"\r\n")
                           if line.lower().startswith(b"content-length:")), 0)
            while len(body) < length:
                piece = conn.recv(65536)
                if not piece:
                    break
                body += piece
            self.requests.append(body)
            self.script(conn)
        except OSError:
            pass  # the client went away: nothing left to send it
        finally:
            try:
                conn.close()
            except OSError:
                pass

    def stop(self) -> None:
        self._stopped.set()
        self._listener.close()
        self._thread.join(5)

    def __enter__(self) -> RawServer:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.stop()


def reset(conn: socket.socket) -> None:
    """Close with an RST instead of a FIN (SO_LINGER with a zero timeout)."""
    import struct

    conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    conn.close()


SSE_HEAD_UNTIL_CLOSE = (b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nConnection: close\r\n\r\n")
"""A 200 whose body runs until the server closes the connection (no length, not chunked)."""
SSE_HEAD_CHUNKED = (b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nTransfer-Encoding: chunked\r\n\r\n")


def http_chunk(data: bytes) -> bytes:
    """One piece of a chunked body."""
    return f"{len(data):x}\r\n".encode() + data + b"\r\n"


CHUNKED_END = b"0\r\n\r\n"


def scripted_chat_app(script, *, content_type: str = "text/event-stream"):
    """An aiohttp app whose POST /v1/chat/completions answers 200 with `script`'s items in turn: bytes are
    written, a number is slept (seconds). `script` is a list, or a function of the request body giving one
    (so a test can answer what the client asked, e.g. its max_tokens)."""
    from aiohttp import web

    async def chat(request):
        body = await request.json()
        items = script(body) if callable(script) else script
        response = web.StreamResponse(headers={"Content-Type": content_type})
        await response.prepare(request)
        for item in items:
            if isinstance(item, (int, float)):
                await asyncio.sleep(item)
            else:
                await response.write(item)
        return response

    app = web.Application()
    app.router.add_post("/v1/chat/completions", chat)
    return app
