"""Generates signing keys and mints JWTs with PyJWT for shards/tests/auth.rs.

Reads one JSON spec on stdin and writes one JSON answer on stdout:

spec = {
  "keys": {"<name>": "RSA" | "P-256" | "P-384" | "Ed25519", ...},   # generated here
  "tokens": {
    "<name>": {
      "alg": "RS256",            # any PyJWT algorithm name
      "key": "<key name>",       # a key from "keys" (asymmetric algorithms)
      "secret": "...",           # the HMAC secret (HS*)
      "kid": "...",              # default: the key's name; null: no kid header
      "claims": {...},           # the payload, as given
      "exp_in": 3,               # optional: set "exp" to now + this many seconds, at signing
      "mode": "sign" | "none" | "tamper" | "hmac_with_public_pem"
    }
  }
}

answer = {
  "jwk": {"<key name>": public JWK with "kid" = the key's name and "use": "sig"},
  "tokens": {"<name>": "<compact JWS>"}
}

Modes besides plain signing:
- "none": an unsigned token (`alg: none`, empty signature), built by hand since PyJWT
  refuses to produce one with a key;
- "tamper": signed normally, then the payload replaced by `claims` with "sub" changed,
  keeping the original signature;
- "hmac_with_public_pem": the algorithm-confusion forgery: an HS* token whose HMAC secret
  is the PEM of `key`'s public key (PyJWT refuses PEM secrets, so signed by hand).
"""

import base64
import hashlib
import hmac
import json
import sys
import time

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from jwt.algorithms import ECAlgorithm, OKPAlgorithm, RSAAlgorithm


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def b64json(obj) -> str:
    return b64url(json.dumps(obj, separators=(",", ":")).encode())


def generate(kind: str):
    if kind == "RSA":
        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        return key, RSAAlgorithm.to_jwk(key.public_key(), as_dict=True)
    if kind == "P-256":
        key = ec.generate_private_key(ec.SECP256R1())
        return key, ECAlgorithm.to_jwk(key.public_key(), as_dict=True)
    if kind == "P-384":
        key = ec.generate_private_key(ec.SECP384R1())
        return key, ECAlgorithm.to_jwk(key.public_key(), as_dict=True)
    if kind == "Ed25519":
        key = ed25519.Ed25519PrivateKey.generate()
        return key, OKPAlgorithm.to_jwk(key.public_key(), as_dict=True)
    raise SystemExit(f"unknown key kind {kind!r}")


def main() -> None:
    spec = json.load(sys.stdin)
    keys = {}
    jwks = {}
    for name, kind in spec.get("keys", {}).items():
        private, jwk = generate(kind)
        jwk = {k: v for k, v in jwk.items() if k != "key_ops"}
        jwk.update({"kid": name, "use": "sig"})
        keys[name] = private
        jwks[name] = jwk

    tokens = {}
    for name, t in spec.get("tokens", {}).items():
        alg = t["alg"]
        claims = t.get("claims", {})
        if "exp_in" in t:
            claims = dict(claims, exp=int(time.time()) + t["exp_in"])
        mode = t.get("mode", "sign")
        kid = t.get("kid", t.get("key"))
        header = {"kid": kid} if kid is not None else {}
        if mode == "none":
            tokens[name] = f'{b64json({"alg": "none", "typ": "JWT", **header})}.{b64json(claims)}.'
            continue
        if mode == "hmac_with_public_pem":
            pem = keys[t["key"]].public_key().public_bytes(
                serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
            )
            digest = {"HS256": hashlib.sha256, "HS384": hashlib.sha384, "HS512": hashlib.sha512}[alg]
            signing_input = f'{b64json({"alg": alg, "typ": "JWT", **header})}.{b64json(claims)}'
            mac = hmac.new(pem, signing_input.encode(), digest).digest()
            tokens[name] = f"{signing_input}.{b64url(mac)}"
            continue
        key = t["secret"].encode() if alg.startswith("HS") else keys[t["key"]]
        token = jwt.encode(claims, key, algorithm=alg, headers=header or None)
        if mode == "tamper":
            h, _, s = token.split(".")
            forged = dict(claims, sub=str(claims.get("sub", "")) + "-admin")
            token = f"{h}.{b64json(forged)}.{s}"
        elif mode != "sign":
            raise SystemExit(f"unknown mode {mode!r}")
        tokens[name] = token

    json.dump({"jwk": jwks, "tokens": tokens}, sys.stdout)


if __name__ == "__main__":
    main()
