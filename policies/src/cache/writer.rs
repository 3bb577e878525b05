//! Storing a response as its body streams through: the storability checks at the head,
//! then a bounded copy of the body chunks.

use std::rc::Rc;

use bytes::{Bytes, BytesMut};
use sluice_codec::{is_valid_header_name, Headers};

use super::control::{self, Directives};
use super::flight::{MissToken, Outcome};
use super::store::{CachedResponse, ResponseCache, VaryField};
use super::{CachePolicy, NoStore};

/// Fields never stored: hop-by-hop and framing (the engine frames a hit itself), `Age`
/// (recomputed per hit) and `Set-Cookie` (refused anyway; here for defence in depth).
const NOT_STORED: &[&str] = &[
    "connection",
    "keep-alive",
    "proxy-connection",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
    "content-length",
    "age",
    "set-cookie",
];

/// Initial body buffer without a `Content-Length`; it grows as chunks arrive.
const UNKNOWN_LENGTH_START: usize = 16 * 1024;

/// A response being stored as its body streams through. Holds at most
/// `max_object_bytes` of body; [`StoreWriter::finish`] stores it, dropping the writer
/// abandons it (waiters get [`Outcome::NotStored`]).
#[derive(Debug)]
pub struct StoreWriter {
    token: MissToken,
    status: u16,
    headers: Headers,
    body: BytesMut,
    content_length: Option<u64>,
    max_object_bytes: usize,
    stored_at: u64,
    expires_at: u64,
    initial_age: u64,
    vary: Box<[VaryField]>,
    /// Unix seconds until which the key passes after a give-up.
    pass_until: u64,
    gave_up: bool,
}

/// What the head checks decided.
struct Plan {
    fresh_for: u64,
    initial_age: u64,
    content_length: Option<u64>,
    vary: Box<[VaryField]>,
}

impl CachePolicy {
    /// Starts storing the upstream response to the request `token` was given for, from its
    /// `status` and `headers` at `now` (unix seconds), or says why not. A refusal settles
    /// the token at once: waiters get [`Outcome::NotStored`], and unless the reason is
    /// [`NoStore::HeadRequest`] the key passes for a while (see the module docs).
    ///
    /// Refused, in this order: a HEAD request; a status that is 5xx or not in
    /// `cacheable_statuses` (206 also needs a request `Range`); `Set-Cookie`; `Vary: *`; a
    /// request `Authorization` the response does not allow sharing (and `authorization`
    /// not in `vary_headers`); with `respect_cache_control`, `no-store`, `no-cache` or
    /// `private`; a lifetime (`s-maxage`, `max-age`, `Expires`, else `ttl`; minus the
    /// upstream `Age` when respecting) of 0; a `Content-Length` over `max_object_bytes`.
    /// `Result::ok` gives the plain `Option`.
    pub fn begin_store(
        &self,
        mut token: MissToken,
        status: u16,
        headers: &Headers,
        now: u64,
    ) -> Result<StoreWriter, NoStore> {
        let pass_until = now.saturating_add(self.pass_secs());
        let plan = match self.plan(&token, status, headers, now) {
            Ok(plan) => plan,
            Err(reason) => {
                let pass = reason.leaves_pass().then_some(pass_until);
                token.settle(Outcome::NotStored, pass, now);
                return Err(reason);
            }
        };
        let capacity = match plan.content_length {
            // Checked against max_object_bytes, so it fits in usize.
            Some(n) => n as usize,
            None => UNKNOWN_LENGTH_START.min(self.max_object_bytes),
        };
        Ok(StoreWriter {
            token,
            status,
            headers: stored_headers(headers, &self.status_header),
            body: BytesMut::with_capacity(capacity),
            content_length: plan.content_length,
            max_object_bytes: self.max_object_bytes,
            stored_at: now,
            expires_at: now.saturating_add(plan.fresh_for),
            initial_age: plan.initial_age,
            vary: plan.vary,
            pass_until,
            gave_up: false,
        })
    }

    fn plan(
        &self,
        token: &MissToken,
        status: u16,
        headers: &Headers,
        now: u64,
    ) -> Result<Plan, NoStore> {
        if token.head {
            return Err(NoStore::HeadRequest);
        }
        if !self.is_cacheable_status(status) || (status == 206 && !token.request.contains("range"))
        {
            return Err(NoStore::Status);
        }
        if headers.contains("set-cookie") {
            return Err(NoStore::SetCookie);
        }
        let vary = vary_fields(headers, &token.request)?;
        let cc = Directives::parse(headers);
        if token.request.contains("authorization")
            && !self.varies_on("authorization")
            && !(cc.public || cc.s_maxage.is_some() || cc.must_revalidate)
        {
            return Err(NoStore::Authorization);
        }
        let initial_age = control::age(headers);
        let fresh_for = if self.respect_cache_control {
            if cc.no_store || cc.no_cache || cc.private {
                return Err(NoStore::CacheControl);
            }
            control::explicit_lifetime(&cc, headers, now)
                .unwrap_or(self.ttl.as_secs())
                .saturating_sub(initial_age)
        } else {
            self.ttl.as_secs()
        };
        if fresh_for == 0 {
            return Err(NoStore::Stale);
        }
        let content_length = match headers.get("content-length") {
            Some(v) => Some(
                std::str::from_utf8(v)
                    .ok()
                    .and_then(|s| s.parse::<u64>().ok())
                    // The codec refuses a bad length before a response gets here.
                    .ok_or(NoStore::Truncated)?,
            ),
            None => None,
        };
        if content_length.is_some_and(|n| n > self.max_object_bytes as u64) {
            return Err(NoStore::TooLarge);
        }
        Ok(Plan {
            fresh_for,
            initial_age,
            content_length,
            vary,
        })
    }
}

impl StoreWriter {
    /// Copies one body chunk. False once the body passed `max_object_bytes` (then the
    /// buffer is freed, waiters are woken with `NotStored` and the key passes for a while);
    /// every later call is false too. Stop calling it and drop the writer.
    pub fn push(&mut self, chunk: &[u8]) -> bool {
        if self.gave_up {
            return false;
        }
        if self.body.len() + chunk.len() > self.max_object_bytes {
            self.gave_up = true;
            self.body = BytesMut::new();
            self.token
                .settle(Outcome::NotStored, Some(self.pass_until), self.stored_at);
            return false;
        }
        self.body.extend_from_slice(chunk);
        true
    }

    /// Bytes of body copied so far.
    pub fn len(&self) -> usize {
        self.body.len()
    }

    /// True when no body byte was copied yet.
    pub fn is_empty(&self) -> bool {
        self.body.is_empty()
    }

    /// Stores the response in `cache` (the cache the token came from) once the body ended
    /// cleanly, and wakes waiters with [`Outcome::Stored`]. Errors (waiters then get
    /// `NotStored`): [`NoStore::TooLarge`] after a give-up or when the entry exceeds the
    /// cache's `max_bytes`, [`NoStore::Truncated`] when the body length differs from
    /// `Content-Length`.
    pub fn finish(mut self, cache: &mut ResponseCache) -> Result<Rc<CachedResponse>, NoStore> {
        if self.gave_up {
            return Err(NoStore::TooLarge);
        }
        if self
            .content_length
            .is_some_and(|n| n != self.body.len() as u64)
        {
            self.token.settle(Outcome::NotStored, None, self.stored_at);
            return Err(NoStore::Truncated);
        }
        let body = std::mem::take(&mut self.body);
        // A body that grew by doubling may hold up to twice its length; copy it to an exact
        // allocation so `max_bytes` bounds real memory, not just lengths.
        let body = if body.capacity() - body.len() > body.len() / 4 {
            Bytes::copy_from_slice(&body)
        } else {
            body.freeze()
        };
        let response = CachedResponse {
            status: self.status,
            headers: std::mem::take(&mut self.headers),
            body,
            stored_at: self.stored_at,
            expires_at: self.expires_at,
            initial_age: self.initial_age,
            vary: std::mem::take(&mut self.vary),
        };
        match cache.insert(&self.token.key, &self.token.request, response) {
            Ok(stored) => {
                self.token
                    .settle(Outcome::Stored(stored.clone()), None, self.stored_at);
                Ok(stored)
            }
            Err(reason) => {
                self.token
                    .settle(Outcome::NotStored, Some(self.pass_until), self.stored_at);
                Err(reason)
            }
        }
    }

    /// Abandons the store; waiters get [`Outcome::NotStored`]. Same as drop.
    pub fn abandon(self) {}
}

/// The headers named by the response's `Vary`, with the request's values copied out of the
/// request buffer. `Vary: *` or a name that is not a token refuses the response.
fn vary_fields(response: &Headers, request: &Headers) -> Result<Box<[VaryField]>, NoStore> {
    let mut fields: Vec<VaryField> = Vec::new();
    for line in response.get_all("vary") {
        for name in line.split(|&b| b == b',') {
            let name = trim(name);
            if name.is_empty() {
                continue;
            }
            if name == b"*" || !is_valid_header_name(name) {
                return Err(NoStore::Vary);
            }
            let name: String = name
                .iter()
                .map(|&b| b.to_ascii_lowercase() as char)
                .collect();
            if fields.iter().any(|f| *f.name == *name) {
                continue;
            }
            let values = request
                .get_all(&name)
                .map(|v| Bytes::copy_from_slice(v))
                .collect();
            fields.push(VaryField {
                name: name.into_boxed_str(),
                values,
            });
        }
    }
    Ok(fields.into_boxed_slice())
}

/// The response headers worth storing, copied into one buffer: hop-by-hop, framing, `Age`,
/// `Set-Cookie` and the status header left out. Copied because the originals are slices of
/// the upstream read buffer, which an entry must not keep alive.
fn stored_headers(headers: &Headers, status_header: &Bytes) -> Headers {
    let listed: Vec<&[u8]> = headers
        .get_all("connection")
        .flat_map(|v| v.split(|&b| b == b','))
        .map(trim)
        .filter(|t| !t.is_empty())
        .collect();
    let kept: Vec<_> = headers
        .iter()
        .filter(|h| {
            let name = &h.name[..];
            !(NOT_STORED
                .iter()
                .any(|n| name.eq_ignore_ascii_case(n.as_bytes()))
                || (name.len() > 6 && name[..6].eq_ignore_ascii_case(b"proxy-"))
                || name.eq_ignore_ascii_case(status_header)
                || listed.iter().any(|t| name.eq_ignore_ascii_case(t)))
        })
        .collect();
    let total = kept.iter().map(|h| h.name.len() + h.value.len()).sum();
    let mut buf = BytesMut::with_capacity(total);
    for h in &kept {
        buf.extend_from_slice(&h.name);
        buf.extend_from_slice(&h.value);
    }
    let buf = buf.freeze();
    let mut out = Headers::with_capacity(kept.len());
    let mut at = 0;
    for h in &kept {
        let name = buf.slice(at..at + h.name.len());
        at += h.name.len();
        let value = buf.slice(at..at + h.value.len());
        at += h.value.len();
        out.append(name, value);
    }
    out
}

fn trim(mut s: &[u8]) -> &[u8] {
    while let [b' ' | b'\t', rest @ ..] = s {
        s = rest;
    }
    while let [rest @ .., b' ' | b'\t'] = s {
        s = rest;
    }
    s
}
