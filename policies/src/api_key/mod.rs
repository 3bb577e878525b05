//! `api-key-auth`: identify the caller by an API key in a header or the query string.

use std::borrow::Cow;

use bytes::Bytes;
use sluice_codec::Headers;

use crate::consumers::ConsumerRegistry;
use crate::identity::Identity;
use crate::Reject;

/// Compiled `api-key-auth` options.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiKeyAuth {
    /// Header carrying the key; matched case-insensitively. Default `x-api-key`.
    pub header_name: String,
    /// Query parameter carrying the key when the header is absent. Default `None` (header
    /// only).
    pub query_param: Option<String>,
    /// Header set to the consumer's id for the upstream, replacing any value the client
    /// sent. Default `Some("x-consumer-id")`; `None` forwards nothing.
    pub forward_consumer_header: Option<String>,
}

impl Default for ApiKeyAuth {
    fn default() -> Self {
        Self {
            header_name: "x-api-key".into(),
            query_param: None,
            forward_consumer_header: Some("x-consumer-id".into()),
        }
    }
}

impl ApiKeyAuth {
    /// Request phase: finds the key, looks it up in `registry` and records the consumer.
    ///
    /// The key is the first non-empty `header_name` value, else the first `query_param`
    /// value (percent-decoded) in `query`, the request target's bytes after `?`. Errors:
    /// 401 `unauthorized` "Missing API key" or "Invalid API key"; never 403, so a refusal
    /// does not tell a valid key from an invalid one.
    ///
    /// On success sets `identity.consumer`, removes `header_name` from `headers` so the
    /// upstream never sees the key, and sets `forward_consumer_header`. A key in the query
    /// string is left there: the engine removes it with [`ApiKeyAuth::strip_query`].
    pub fn on_request(
        &self,
        registry: &ConsumerRegistry,
        headers: &mut Headers,
        query: Option<&[u8]>,
        identity: &mut Identity,
    ) -> Result<(), Reject> {
        let consumer = {
            let key: Cow<'_, [u8]> = match headers.get(&self.header_name) {
                Some(v) if !v.is_empty() => Cow::Borrowed(v.as_ref()),
                _ => self
                    .query_key(query)
                    .ok_or_else(|| Reject::new(401, "unauthorized", "Missing API key"))?,
            };
            registry
                .find_by_api_key(&key)
                .ok_or_else(|| Reject::new(401, "unauthorized", "Invalid API key"))?
                .clone()
        };
        headers.remove(&self.header_name);
        if let Some(name) = &self.forward_consumer_header {
            headers.set(Bytes::from(name.clone()), Bytes::from(consumer.id.clone()));
        }
        identity.consumer = Some(consumer);
        Ok(())
    }

    /// `query` without any `query_param` parameter, so the key does not reach the upstream
    /// or its logs.
    ///
    /// Returns `None` when there is nothing to remove (no `query_param` configured, or not
    /// present), so the engine keeps the original target without a copy. `Some` may be
    /// empty: the engine should then drop the `?` too. Other parameters keep their order
    /// and encoding.
    pub fn strip_query(&self, query: &[u8]) -> Option<Bytes> {
        let param = self.query_param.as_deref()?.as_bytes();
        let is_key = |pair: &&[u8]| {
            let name = pair.split(|&b| b == b'=').next().unwrap_or_default();
            percent_decode(name).as_ref() == param
        };
        if !query.split(|&b| b == b'&').any(|p| is_key(&p)) {
            return None;
        }
        let mut out = Vec::with_capacity(query.len());
        for pair in query.split(|&b| b == b'&').filter(|p| !is_key(p)) {
            if !out.is_empty() {
                out.push(b'&');
            }
            out.extend_from_slice(pair);
        }
        Some(Bytes::from(out))
    }

    /// The first non-empty value of `query_param` in `query`, percent-decoded.
    fn query_key<'q>(&self, query: Option<&'q [u8]>) -> Option<Cow<'q, [u8]>> {
        let param = self.query_param.as_deref()?;
        crate::urlencoded::query_values(query?, param, false).find(|v| !v.is_empty())
    }
}

/// `+` is deliberately not read as a space as form encoding would: API keys are often
/// base64 and contain `+`, keys never contain spaces, and clients that do encode send `%2B`.
fn percent_decode(s: &[u8]) -> Cow<'_, [u8]> {
    crate::urlencoded::percent_decode(s, false)
}

#[cfg(test)]
mod tests;
