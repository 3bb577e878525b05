//! `http-callout` and `traffic-shadow`: compiled forms and the pure parts (template
//! rendering, reading the answer). The shard makes the calls.

use bytes::{Bytes, BytesMut};
use sluice_codec::{Method, RequestHead};
use sluice_config::{Template, TemplatePart, TemplateVar};
use sluice_policies::Reject;

use crate::error::json_escape;
use crate::{RequestContext, UpstreamTarget};

/// A compiled `http-callout`.
#[derive(Debug, Clone)]
pub struct Callout {
    /// Key of the endpoint in `Snapshot::side_targets`.
    pub target: String,
    pub method: Method,
    pub headers: Vec<(String, String)>,
    pub body: Option<Template>,
    /// `(request header, JSON pointer)` pairs.
    pub set_headers_from: Vec<(Bytes, String)>,
    /// `on_error: fail` (true) or `continue`.
    pub fail: bool,
}

/// A compiled `traffic-shadow`.
#[derive(Debug, Clone)]
pub struct Shadow {
    pub target: UpstreamTarget,
    pub percentage: f64,
    pub timeout: std::time::Duration,
    /// Largest streamed body kept to be mirrored once it has been sent upstream.
    pub max_body_bytes: usize,
}

impl Callout {
    /// The callout's body for this request (values JSON-string escaped).
    pub fn render_body(&self, req: &RequestHead, ctx: &RequestContext) -> Bytes {
        let Some(t) = &self.body else {
            return Bytes::new();
        };
        let mut out = BytesMut::with_capacity(t.text.len() + 64);
        for part in &t.parts {
            match part {
                TemplatePart::Literal(s) => out.extend_from_slice(s.as_bytes()),
                TemplatePart::Var(v) => {
                    let value: Option<Vec<u8>> = match v {
                        TemplateVar::Method => Some(req.method.as_str().as_bytes().to_vec()),
                        TemplateVar::Path => Some(req.path.to_vec()),
                        TemplateVar::Query => req.query.as_ref().map(|q| q.to_vec()),
                        TemplateVar::ClientIp => Some(ctx.client.ip().to_string().into_bytes()),
                        TemplateVar::RequestId => Some(ctx.request_id.to_vec()),
                        TemplateVar::Consumer => {
                            ctx.identity.consumer_id().map(|c| c.as_bytes().to_vec())
                        }
                        TemplateVar::Header(h) => req.headers.get(h).map(|v| v.to_vec()),
                        TemplateVar::QueryParam(name) => query_param(req.query.as_deref(), name),
                        TemplateVar::Claim(path) => ctx
                            .identity
                            .claim(path)
                            .and_then(sluice_policies::jwt::claim_to_header_value)
                            .map(String::into_bytes),
                    };
                    if let Some(v) = value {
                        json_escape(&v, &mut out);
                    }
                }
            }
        }
        out.freeze()
    }

    /// Reads the callout's answer into request headers; `Err` when the call failed and
    /// `on_error` is `fail`.
    pub fn apply_answer(
        &self,
        answer: Result<(u16, Bytes), String>,
        headers: &mut sluice_codec::Headers,
    ) -> Result<(), Reject> {
        let parsed = match answer {
            Ok((status, body)) if (200..300).contains(&status) => {
                serde_json::from_slice::<serde_json::Value>(&body)
                    .map_err(|_| "the answer is not JSON".to_string())
            }
            Ok((status, _)) => Err(format!("the callout answered {status}")),
            Err(e) => Err(e),
        };
        match parsed {
            Ok(json) => {
                for (header, pointer) in &self.set_headers_from {
                    let value = json
                        .pointer(pointer)
                        .and_then(sluice_policies::jwt::claim_to_header_value);
                    if let Some(v) = value {
                        headers.set(header.clone(), Bytes::from(v));
                    }
                }
                Ok(())
            }
            Err(_) if !self.fail => Ok(()),
            Err(why) => Err(Reject::new(
                502,
                "callout_failed",
                format!("Callout failed: {why}"),
            )),
        }
    }
}

fn query_param(query: Option<&[u8]>, name: &str) -> Option<Vec<u8>> {
    sluice_policies::urlencoded::query_values(query?, name, true)
        .next()
        .map(|v| v.into_owned())
}
