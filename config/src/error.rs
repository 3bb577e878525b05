//! Errors returned by loading, and the collector the validator fills as it walks.

use std::fmt;

/// Every problem found in one config source. Loading reports all it can find at once, so a
/// user fixes a file in one pass instead of one error per run.
#[derive(Debug)]
pub struct ConfigErrors {
    /// The file name (or other label) given to [`crate::load_str`], used as the message prefix.
    pub source: String,
    /// At least one error, roughly in file order.
    pub errors: Vec<FieldError>,
}

/// One problem at one place in the file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldError {
    /// Where, e.g. `routes[1].policies[0].deny[2]` or `limits.idle_timeout`; empty when the
    /// problem concerns the whole file (unreadable, not YAML).
    pub path: String,
    /// What is wrong, e.g. `invalid CIDR "10.0.0.0/33"`.
    pub message: String,
}

/// Collects [`FieldError`]s while validation goes on past the first one.
#[derive(Debug, Default)]
pub(crate) struct Errors(Vec<FieldError>);

impl ConfigErrors {
    /// A single error without a field path, e.g. for an unreadable file.
    pub fn whole_file(source: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            source: source.into(),
            errors: vec![FieldError::new("", message)],
        }
    }
}

/// One line per error: `{source}: {path}: {message}`, or `{source}: {message}` without a path.
impl fmt::Display for ConfigErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, error) in self.errors.iter().enumerate() {
            if i > 0 {
                f.write_str("\n")?;
            }
            write!(f, "{}: {error}", self.source)?;
        }
        Ok(())
    }
}

// Written by hand rather than with `thiserror`: its derive treats a field named `source` as
// the underlying cause and would require `String: Error`. There is no underlying cause here.
impl std::error::Error for ConfigErrors {}

impl FieldError {
    /// An error at `path` (empty for the whole file).
    pub fn new(path: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            path: path.into(),
            message: message.into(),
        }
    }
}

/// `{path}: {message}`, or just `{message}` without a path.
impl fmt::Display for FieldError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.path.is_empty() {
            f.write_str(&self.message)
        } else {
            write!(f, "{}: {}", self.path, self.message)
        }
    }
}

impl std::error::Error for FieldError {}

impl Errors {
    /// Records `message` at `path`.
    pub(crate) fn add(&mut self, path: &str, message: impl Into<String>) {
        self.0.push(FieldError::new(path, message));
    }

    /// Records a [`Result`]'s error at `path` and returns its value, if any.
    pub(crate) fn check<T>(&mut self, path: &str, result: Result<T, String>) -> Option<T> {
        result.map_err(|message| self.add(path, message)).ok()
    }

    /// Moves `other`'s errors after these.
    pub(crate) fn append(&mut self, mut other: Errors) {
        self.0.append(&mut other.0);
    }

    pub(crate) fn map(self, f: impl FnMut(FieldError) -> FieldError) -> Errors {
        Errors(self.0.into_iter().map(f).collect())
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Drops errors at or below any of `paths`.
    ///
    /// A field whose `${VAR}` could not be substituted still holds the `${VAR}` text; the
    /// "not set" error already explains it, so a second "invalid duration" there is noise.
    pub(crate) fn suppress_below(&mut self, paths: &[String]) {
        self.0
            .retain(|e| !paths.iter().any(|p| is_at_or_below(&e.path, p)));
    }

    pub(crate) fn into_vec(self) -> Vec<FieldError> {
        self.0
    }
}

/// `parent.name`, or `name` at the top level.
pub(crate) fn key(parent: &str, name: &str) -> String {
    if parent.is_empty() {
        name.to_owned()
    } else {
        format!("{parent}.{name}")
    }
}

/// `parent[i]`.
pub(crate) fn index(parent: &str, i: usize) -> String {
    format!("{parent}[{i}]")
}

fn is_at_or_below(path: &str, ancestor: &str) -> bool {
    match path.strip_prefix(ancestor) {
        Some(rest) => rest.is_empty() || rest.starts_with('.') || rest.starts_with('['),
        None => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_one_line_per_error() {
        let errors = ConfigErrors {
            source: "gateway.yaml".into(),
            errors: vec![
                FieldError::new("routes[0].path", "bad"),
                FieldError::new("", "whole"),
            ],
        };
        assert_eq!(
            errors.to_string(),
            "gateway.yaml: routes[0].path: bad\ngateway.yaml: whole"
        );
    }

    #[test]
    fn suppression_matches_whole_segments_only() {
        let mut errors = Errors::default();
        for path in [
            "x.timeout",
            "x.timeouts",
            "x.timeout[0]",
            "x.timeout.y",
            "routes[1].path",
            "routes[10].path",
        ] {
            errors.add(path, "");
        }
        errors.suppress_below(&["x.timeout".into(), "routes[1]".into()]);
        let left: Vec<_> = errors.into_vec().into_iter().map(|e| e.path).collect();
        assert_eq!(left, ["x.timeouts", "routes[10].path"]);
    }
}
