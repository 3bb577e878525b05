//! `mock`: answer at the gateway without calling the upstream.

use std::time::Duration;

use bytes::Bytes;
use sluice_codec::Headers;

use crate::Answer;

/// Compiled `mock` options.
#[derive(Debug, Clone)]
pub struct Mock {
    pub status: u16,
    pub headers: Headers,
    pub body: Bytes,
    pub delay: Duration,
}

impl Mock {
    /// Request phase: always answers. Cloning shares the body and header bytes.
    pub fn on_request(&self) -> Answer {
        Answer {
            status: self.status,
            headers: self.headers.clone(),
            body: self.body.clone(),
            delay: self.delay,
        }
    }
}
