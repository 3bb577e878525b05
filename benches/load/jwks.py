"""RS256 fixture for the `jwt` scenario of run.py: a key pair, one signed token, and a
JWKS document served over plain HTTP from a thread of the script.

The Python standard library cannot generate RSA keys or sign with them, so the `openssl`
command line does both. Python 3.11 standard library otherwise.
"""

from __future__ import annotations

import base64
import json
import re
import subprocess
import threading
import time
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

KID = "load"
JWKS_PATH = "/jwks.json"


class FixtureError(Exception):
    """openssl is missing or failed."""


@dataclass
class Rs256Fixture:
    token: str
    jwks: dict


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def int_b64url(value: int) -> str:
    """Unsigned big-endian base64url, without leading zero bytes (RFC 7518, 6.3.1)."""
    return b64url(value.to_bytes((value.bit_length() + 7) // 8, "big"))


def openssl(*argv: str, input: bytes | None = None) -> bytes:
    try:
        done = subprocess.run(["openssl", *argv], input=input, capture_output=True)
    except FileNotFoundError as exc:
        raise FixtureError("the jwt scenario needs the openssl command line") from exc
    if done.returncode != 0:
        raise FixtureError(
            f"openssl {' '.join(argv)} failed: {done.stderr.decode(errors='replace').strip()}"
        )
    return done.stdout


def make_rs256(workdir: Path, lifetime_s: int = 3600) -> Rs256Fixture:
    """A 2048-bit RSA key in `workdir`, a JWKS with its public half, and one RS256 token
    `{"sub": "load", "exp": now + lifetime_s}` signed with it."""
    key = workdir / "jwt-key.pem"
    openssl("genrsa", "-out", str(key), "2048")
    modulus = openssl("rsa", "-in", str(key), "-noout", "-modulus").decode().strip()
    if not modulus.startswith("Modulus="):
        raise FixtureError(f"unexpected openssl -modulus output: {modulus[:80]!r}")
    n = int(modulus.removeprefix("Modulus="), 16)
    text = openssl("rsa", "-in", str(key), "-noout", "-text").decode()
    found = re.search(r"publicExponent: (\d+)", text)
    if not found:
        raise FixtureError("no publicExponent in openssl rsa -text output")
    e = int(found.group(1))

    header = {"alg": "RS256", "kid": KID}
    claims = {"sub": "load", "exp": int(time.time()) + lifetime_s}
    signing_input = (
        b64url(json.dumps(header, separators=(",", ":")).encode())
        + "."
        + b64url(json.dumps(claims, separators=(",", ":")).encode())
    )
    # PKCS#1 v1.5 over SHA-256: exactly RS256.
    signature = openssl("dgst", "-sha256", "-sign", str(key), input=signing_input.encode())
    jwk = {"kty": "RSA", "kid": KID, "alg": "RS256", "use": "sig",
           "n": int_b64url(n), "e": int_b64url(e)}
    return Rs256Fixture(token=f"{signing_input}.{b64url(signature)}", jwks={"keys": [jwk]})


class JwksServer:
    """Serves one JWKS document at JWKS_PATH on 127.0.0.1 from a daemon thread and counts
    the fetches (the gateway should fetch once and then serve from its caches)."""

    def __init__(self, jwks: dict):
        body = json.dumps(jwks).encode()
        owner = self
        self.fetches = 0
        self._lock = threading.Lock()

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_GET(self) -> None:  # noqa: N802 (http.server's naming)
                if self.path != JWKS_PATH:
                    self.send_error(404)
                    return
                with owner._lock:
                    owner.fetches += 1
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self.port = self._server.server_address[1]
        self.url = f"http://127.0.0.1:{self.port}{JWKS_PATH}"
        self._thread = threading.Thread(
            target=self._server.serve_forever, name="jwks", daemon=True
        )
        self._thread.start()

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=2)
