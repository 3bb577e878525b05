//! Keys and tokens minted by PyJWT (`tests/scripts/jwt_mint.py`), so the gateway is checked
//! against an independent JWT implementation rather than against its own signer.

use std::collections::HashMap;
use std::io::Write;
use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::time::{SystemTime, UNIX_EPOCH};

use serde_json::{json, Value};

/// The minting script.
pub const MINT_SCRIPT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/scripts/jwt_mint.py");

/// Python modules the auth tests use, with the pip package that provides each.
const PYTHON_MODULES: [(&str, &str); 3] = [
    ("jwt", "pyjwt"),
    ("cryptography", "cryptography"),
    ("requests", "requests"),
];

/// Makes sure `python3` can import PyJWT, cryptography and requests, installing what is
/// missing with pip once per test process; panics with pip's output when that fails.
pub fn ensure_python() {
    static READY: OnceLock<Result<(), String>> = OnceLock::new();
    let ready = READY.get_or_init(|| {
        let importable = |module: &str| {
            // `jwt.encode` tells PyJWT from the unrelated `jwt` package.
            let probe = match module {
                "jwt" => "import jwt; jwt.encode".to_string(),
                m => format!("import {m}"),
            };
            Command::new("python3")
                .args(["-c", &probe])
                .stderr(Stdio::null())
                .status()
                .is_ok_and(|s| s.success())
        };
        let missing: Vec<&str> = PYTHON_MODULES
            .iter()
            .filter(|(m, _)| !importable(m))
            .map(|(_, pkg)| *pkg)
            .collect();
        if missing.is_empty() {
            return Ok(());
        }
        let pip = Command::new("python3")
            .args(["-m", "pip", "install", "--quiet"])
            .args(&missing)
            .output()
            .map_err(|e| format!("python3 must be installed for the auth tests: {e}"))?;
        match PYTHON_MODULES.iter().find(|(m, _)| !importable(m)) {
            None => Ok(()),
            Some((m, pkg)) => Err(format!(
                "python3 cannot import `{m}` and `pip install {}` did not fix it:\n{}",
                pkg,
                String::from_utf8_lossy(&pip.stderr)
            )),
        }
    });
    if let Err(why) = ready {
        panic!("{why}");
    }
}

/// Seconds since the epoch.
pub fn unix_now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

/// Keys and tokens to mint in one run of the script.
#[derive(Default)]
pub struct Mint {
    keys: serde_json::Map<String, Value>,
    tokens: serde_json::Map<String, Value>,
}

/// What the script made: public JWKs by key name and tokens by name.
pub struct Minted {
    pub jwk: HashMap<String, Value>,
    pub tokens: HashMap<String, String>,
}

impl Mint {
    pub fn new() -> Mint {
        Mint::default()
    }

    /// Generates a key: `kind` is `RSA` (2048 bits), `P-256`, `P-384` or `Ed25519`.
    pub fn key(mut self, name: &str, kind: &str) -> Mint {
        self.keys.insert(name.into(), json!(kind));
        self
    }

    /// A token signed with the generated key `key` (`kid` = the key's name).
    pub fn signed(self, name: &str, alg: &str, key: &str, claims: Value) -> Mint {
        self.token(name, json!({"alg": alg, "key": key, "claims": claims}))
    }

    /// An HMAC token.
    pub fn hmac(self, name: &str, alg: &str, secret: &str, claims: Value) -> Mint {
        self.token(
            name,
            json!({"alg": alg, "secret": secret, "claims": claims, "kid": null}),
        )
    }

    /// A token from a raw spec (see the script's docstring: `kid`, `mode`, ...).
    pub fn token(mut self, name: &str, spec: Value) -> Mint {
        self.tokens.insert(name.into(), spec);
        self
    }

    /// Runs the script.
    pub fn run(self) -> Minted {
        ensure_python();
        let spec = json!({"keys": self.keys, "tokens": self.tokens}).to_string();
        let mut child = Command::new("python3")
            .arg(MINT_SCRIPT)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("run python3");
        child
            .stdin
            .take()
            .unwrap()
            .write_all(spec.as_bytes())
            .unwrap();
        let out = child.wait_with_output().unwrap();
        assert!(
            out.status.success(),
            "{MINT_SCRIPT} failed:\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let v: Value = serde_json::from_slice(&out.stdout).expect("minting script output is JSON");
        let jwk = v["jwk"]
            .as_object()
            .unwrap()
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        let tokens = v["tokens"]
            .as_object()
            .unwrap()
            .iter()
            .map(|(k, v)| (k.clone(), v.as_str().unwrap().to_string()))
            .collect();
        Minted { jwk, tokens }
    }
}

impl Minted {
    /// The token named `name`.
    pub fn token(&self, name: &str) -> &str {
        self.tokens
            .get(name)
            .unwrap_or_else(|| panic!("no token {name:?} was minted"))
    }

    /// A JWKS document holding the public keys named in `keys`, in that order.
    pub fn jwks(&self, keys: &[&str]) -> Value {
        let keys: Vec<Value> = keys
            .iter()
            .map(|k| {
                self.jwk
                    .get(*k)
                    .unwrap_or_else(|| panic!("no key {k:?} was generated"))
                    .clone()
            })
            .collect();
        json!({ "keys": keys })
    }
}
