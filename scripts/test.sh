#!/usr/bin/env bash
# The whole test suite: formatting, lints, then every unit and integration test.
# Integration tests start the real `sluice` binary and real upstreams on 127.0.0.1, and use
# curl, Python's `requests`, PyJWT and headless Chromium as clients.
set -euo pipefail
cd "$(dirname "$0")/.."

command -v curl >/dev/null || { echo "curl is required (apt-get install -y curl)" >&2; exit 1; }
python3 -c 'import requests, jwt, cryptography, prometheus_client' 2>/dev/null ||
    python3 -m pip install --quiet requests pyjwt cryptography prometheus_client

cargo fmt --all -- --check
cargo clippy --workspace --all-targets --locked -- -D warnings
cargo test --workspace --locked
