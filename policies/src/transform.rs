//! `request-transform` and `response-transform`: header edits.

use bytes::Bytes;
use sluice_codec::Headers;

/// Compiled header edits, applied in a fixed order: rename, remove, set, append.
/// Renaming first lets a config rename a header and then set a fresh one of the old name.
#[derive(Debug, Clone, Default)]
pub struct HeaderTransform {
    pub rename: Vec<(String, Bytes)>,
    pub remove: Vec<String>,
    pub set: Vec<(Bytes, Bytes)>,
    pub append: Vec<(Bytes, Bytes)>,
}

impl HeaderTransform {
    /// Applies the edits to `headers`. Values are shared `Bytes`, so no copy is made.
    pub fn apply(&self, headers: &mut Headers) {
        for (from, to) in &self.rename {
            headers.rename(from, to);
        }
        for name in &self.remove {
            headers.remove(name);
        }
        for (name, value) in &self.set {
            headers.set(name.clone(), value.clone());
        }
        for (name, value) in &self.append {
            headers.append(name.clone(), value.clone());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn order_is_rename_remove_set_append() {
        let t = HeaderTransform {
            rename: vec![("x-old".into(), Bytes::from_static(b"x-new"))],
            remove: vec!["x-gone".into()],
            set: vec![(Bytes::from_static(b"x-old"), Bytes::from_static(b"fresh"))],
            append: vec![(Bytes::from_static(b"x-list"), Bytes::from_static(b"b"))],
        };
        let mut h = Headers::default();
        h.append("X-Old", "1");
        h.append("x-gone", "2");
        h.append("x-list", "a");
        t.apply(&mut h);
        assert_eq!(h.get("x-new").unwrap().as_ref(), b"1");
        assert_eq!(h.get("x-old").unwrap().as_ref(), b"fresh");
        assert!(!h.contains("x-gone"));
        assert_eq!(h.get_all("x-list").count(), 2);
    }
}
