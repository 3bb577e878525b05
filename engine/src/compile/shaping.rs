//! Config -> compiled request shaping and logging: header transforms, `request-log` specs
//! (including the one for requests no route matches) and `skip` conditions.

use bytes::Bytes;
use regex::RegexSet;
use sluice_config::{PolicyKind, PolicySpec, SkipSpec};
use sluice_policies::{HeaderTransform, Skip};

pub(super) fn compile_transform(o: &sluice_config::TransformOptions) -> HeaderTransform {
    let pairs = |v: &[(String, String)]| {
        v.iter()
            .map(|(n, v)| (Bytes::from(n.clone()), Bytes::from(v.clone())))
            .collect()
    };
    HeaderTransform {
        rename: o
            .rename_headers
            .iter()
            .map(|(f, t)| (f.clone(), Bytes::from(t.clone())))
            .collect(),
        remove: o.remove_headers.clone(),
        set: pairs(&o.set_headers),
        append: pairs(&o.append_headers),
    }
}

pub(super) fn request_log_spec(
    o: &sluice_config::RequestLogOptions,
) -> crate::program::RequestLogSpec {
    crate::program::RequestLogSpec {
        output: match &o.output {
            sluice_config::LogOutput::Stdout => "stdout".into(),
            sluice_config::LogOutput::File(f) => f.clone(),
        },
        redact_headers: o.redact_headers.clone(),
        buffer: o.buffer,
        include_headers: o.include_headers,
    }
}

/// The global `request-log` policy (the first, by priority order as it would run), for
/// requests that match no route: they have no program, but an operator still wants their
/// 404s and 405s in the access log.
pub(super) fn unmatched_log(
    global: &[PolicySpec],
) -> Option<(crate::program::RequestLogSpec, Option<Skip>)> {
    global.iter().find_map(|spec| match &spec.kind {
        PolicyKind::RequestLog(o) => {
            Some((request_log_spec(o), spec.skip.as_ref().map(compile_skip)))
        }
        _ => None,
    })
}

pub(super) fn compile_skip(s: &SkipSpec) -> Skip {
    let paths = if s.paths.is_empty() {
        None
    } else {
        // Each regex already compiled during validation, so the set compiles too.
        RegexSet::new(s.paths.iter().map(|r| r.as_str())).ok()
    };
    Skip {
        paths,
        methods: s.methods.clone(),
        headers: s.headers.clone(),
    }
}
