//! `override-method`: lets a client that can only send POST ask for another method in a
//! header (`X-HTTP-Method-Override: DELETE`).
//!
//! Phase: [`OverrideMethod::on_request`] only. On `Ok(Some(method))` the engine replaces the
//! request method before routing on and calling the upstream; the header is removed in every
//! case, so the upstream never applies an override the gateway did not approve (a framework
//! that honours the header on a GET would otherwise turn a cross-site GET into a DELETE).

use sluice_codec::{Headers, Method};

use crate::Reject;

/// Compiled `override-method` options.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OverrideMethod {
    /// Header carrying the method; compared ignoring case. Default `X-HTTP-Method-Override`.
    pub header: String,
    /// Methods a POST may become. Default PUT, PATCH, DELETE.
    pub allowed_methods: Vec<Method>,
}

impl Default for OverrideMethod {
    fn default() -> Self {
        Self {
            header: "X-HTTP-Method-Override".into(),
            allowed_methods: vec![Method::Put, Method::Patch, Method::Delete],
        }
    }
}

impl OverrideMethod {
    /// Request phase. Removes the override header from `headers`, then:
    /// - not a POST, or no header: `Ok(None)` (keep the method);
    /// - POST with one header naming an allowed method: `Ok(Some(method))`. The value is
    ///   trimmed and upper-cased first, as clients commonly send `delete`;
    /// - otherwise (empty, repeated, or a method not in `allowed_methods`): 400
    ///   `invalid_method_override`.
    pub fn on_request(
        &self,
        method: &Method,
        headers: &mut Headers,
    ) -> Result<Option<Method>, Reject> {
        if *method != Method::Post {
            headers.remove(&self.header);
            return Ok(None);
        }
        let (wanted, repeated) = {
            let mut values = headers.get_all(&self.header);
            let Some(first) = values.next() else {
                return Ok(None);
            };
            let wanted = Method::from_bytes(&first.trim_ascii().to_ascii_uppercase());
            (wanted, values.next().is_some())
        };
        headers.remove(&self.header);
        if repeated {
            return Err(invalid(format!(
                "Only one {} header is allowed",
                self.header
            )));
        }
        if self.allowed_methods.contains(&wanted) {
            Ok(Some(wanted))
        } else {
            Err(invalid(format!(
                "Method override to '{}' is not allowed",
                wanted.as_str()
            )))
        }
    }
}

fn invalid(message: String) -> Reject {
    Reject::new(400, "invalid_method_override", message)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(values: &[&str]) -> Headers {
        let mut h = Headers::default();
        h.append("Host", "example.com");
        for v in values {
            h.append("X-HTTP-Method-Override", v.to_string());
        }
        h
    }

    #[test]
    fn post_becomes_an_allowed_method_and_the_header_goes() {
        let op = OverrideMethod::default();
        for (value, want) in [
            ("PUT", Method::Put),
            ("patch", Method::Patch),
            (" Delete ", Method::Delete),
        ] {
            let mut h = headers(&[value]);
            assert_eq!(op.on_request(&Method::Post, &mut h), Ok(Some(want)));
            assert!(!h.contains("x-http-method-override"));
            assert!(h.contains("host"));
        }
    }

    #[test]
    fn no_header_keeps_the_method() {
        let op = OverrideMethod::default();
        let mut h = headers(&[]);
        assert_eq!(op.on_request(&Method::Post, &mut h), Ok(None));
        assert_eq!(h.len(), 1);
    }

    #[test]
    fn only_post_is_overridden_and_others_lose_the_header() {
        let op = OverrideMethod::default();
        for method in [Method::Get, Method::Put, Method::Options] {
            let mut h = headers(&["DELETE"]);
            assert_eq!(op.on_request(&method, &mut h), Ok(None));
            assert!(!h.contains("x-http-method-override"));
        }
    }

    #[test]
    fn refused_overrides() {
        let op = OverrideMethod::default();
        for values in [
            &["GET"][..],
            &["CONNECT"],
            &["FOO"],
            &[""],
            &["PUT", "DELETE"],
        ] {
            let mut h = headers(values);
            let r = op.on_request(&Method::Post, &mut h).unwrap_err();
            assert_eq!((r.status, r.code), (400, "invalid_method_override"));
            assert!(!h.contains("x-http-method-override"));
        }
        let mut h = headers(&["trace"]);
        assert_eq!(
            op.on_request(&Method::Post, &mut h).unwrap_err().message,
            "Method override to 'TRACE' is not allowed"
        );
    }

    #[test]
    fn custom_header_and_methods() {
        let op = OverrideMethod {
            header: "X-Method".into(),
            allowed_methods: vec![Method::Get, Method::from_bytes(b"PURGE")],
        };
        let mut h = Headers::default();
        h.append("x-method", "purge");
        assert_eq!(
            op.on_request(&Method::Post, &mut h),
            Ok(Some(Method::Other("PURGE".into())))
        );
        let mut h = Headers::default();
        h.append("X-METHOD", "DELETE");
        assert!(op.on_request(&Method::Post, &mut h).is_err());
        // The default header name is not looked at any more.
        let mut h = headers(&["GET"]);
        assert_eq!(op.on_request(&Method::Post, &mut h), Ok(None));
    }
}
