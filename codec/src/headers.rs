//! An ordered header list whose names and values are slices of the read buffer.

use bytes::Bytes;

/// One header field. `name` keeps the case it arrived with; look-ups ignore case.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Header {
    /// The field name, as received.
    pub name: Bytes,
    /// The field value, without surrounding whitespace.
    pub value: Bytes,
}

/// Ordered list of header fields. Small header counts make a linear scan with
/// `eq_ignore_ascii_case` faster than hashing, and the list keeps wire order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Headers {
    list: Vec<Header>,
}

impl Headers {
    /// An empty list with room for `n` fields.
    pub fn with_capacity(n: usize) -> Self {
        Self {
            list: Vec::with_capacity(n),
        }
    }

    /// Number of fields (a repeated name counts once per line).
    pub fn len(&self) -> usize {
        self.list.len()
    }

    /// True when there are no fields.
    pub fn is_empty(&self) -> bool {
        self.list.is_empty()
    }

    /// Fields in order.
    pub fn iter(&self) -> std::slice::Iter<'_, Header> {
        self.list.iter()
    }

    /// The first value of `name` (case-insensitive), if any.
    pub fn get(&self, name: &str) -> Option<&Bytes> {
        self.list
            .iter()
            .find(|h| h.name.eq_ignore_ascii_case(name.as_bytes()))
            .map(|h| &h.value)
    }

    /// The first value of `name` as `&str`, if present and valid UTF-8.
    pub fn get_str(&self, name: &str) -> Option<&str> {
        self.get(name).and_then(|v| std::str::from_utf8(v).ok())
    }

    /// Every value of `name`, in order.
    pub fn get_all<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a Bytes> + 'a {
        self.list
            .iter()
            .filter(move |h| h.name.eq_ignore_ascii_case(name.as_bytes()))
            .map(|h| &h.value)
    }

    /// True when `name` is present.
    pub fn contains(&self, name: &str) -> bool {
        self.get(name).is_some()
    }

    /// Appends a field, keeping any existing ones of that name.
    pub fn append(&mut self, name: impl Into<Bytes>, value: impl Into<Bytes>) {
        self.list.push(Header {
            name: name.into(),
            value: value.into(),
        });
    }

    /// Replaces every field named `name` by one field with `value`.
    pub fn set(&mut self, name: impl Into<Bytes>, value: impl Into<Bytes>) {
        let name = name.into();
        let value = value.into();
        if let Some(pos) = self
            .list
            .iter()
            .position(|h| h.name.eq_ignore_ascii_case(&name))
        {
            self.list[pos].value = value;
            let mut i = pos + 1;
            while i < self.list.len() {
                if self.list[i].name.eq_ignore_ascii_case(&name) {
                    self.list.remove(i);
                } else {
                    i += 1;
                }
            }
        } else {
            self.list.push(Header { name, value });
        }
    }

    /// Removes every field named `name`; returns how many were removed.
    pub fn remove(&mut self, name: &str) -> usize {
        let before = self.list.len();
        self.list
            .retain(|h| !h.name.eq_ignore_ascii_case(name.as_bytes()));
        before - self.list.len()
    }

    /// Renames every field named `from` to `to`, keeping values and order.
    pub fn rename(&mut self, from: &str, to: &Bytes) {
        for h in &mut self.list {
            if h.name.eq_ignore_ascii_case(from.as_bytes()) {
                h.name = to.clone();
            }
        }
    }

    /// Keeps only the fields for which `keep` returns true.
    pub fn retain(&mut self, keep: impl FnMut(&Header) -> bool) {
        self.list.retain(keep);
    }

    /// Removes every field, keeping the allocation.
    pub fn clear(&mut self) {
        self.list.clear();
    }

    /// True when a comma-separated value of `name` contains `token` (case-insensitive).
    pub fn has_token(&self, name: &str, token: &str) -> bool {
        self.get_all(name).any(|v| {
            v.split(|&b| b == b',')
                .any(|t| trim_ows(t).eq_ignore_ascii_case(token.as_bytes()))
        })
    }
}

impl<'a> IntoIterator for &'a Headers {
    type Item = &'a Header;
    type IntoIter = std::slice::Iter<'a, Header>;
    fn into_iter(self) -> Self::IntoIter {
        self.list.iter()
    }
}

/// Trims optional whitespace (SP / HTAB) from both ends.
pub(crate) fn trim_ows(mut s: &[u8]) -> &[u8] {
    while let [b' ' | b'\t', rest @ ..] = s {
        s = rest;
    }
    while let [rest @ .., b' ' | b'\t'] = s {
        s = rest;
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn set_replaces_all_and_get_ignores_case() {
        let mut h = Headers::default();
        h.append("X-A", "1");
        h.append("x-a", "2");
        h.append("B", "3");
        h.set("X-a", "9");
        assert_eq!(h.len(), 2);
        assert_eq!(h.get("x-A").unwrap().as_ref(), b"9");
        assert_eq!(h.remove("b"), 1);
        assert!(!h.contains("B"));
    }

    #[test]
    fn token_lists() {
        let mut h = Headers::default();
        h.append("Connection", "keep-alive, Upgrade");
        assert!(h.has_token("connection", "upgrade"));
        assert!(!h.has_token("connection", "close"));
    }
}
