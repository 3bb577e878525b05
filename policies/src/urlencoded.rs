//! Percent-decoding and query look-ups, shared by every op that reads a URL or a query.

use std::borrow::Cow;

/// `input` with `%XX` escapes decoded (and `+` as a space when `plus_is_space`: form
/// encoding); borrowed when there is nothing to decode. A `%` not followed by two hex
/// digits is kept as it is.
pub fn percent_decode(input: &[u8], plus_is_space: bool) -> Cow<'_, [u8]> {
    if !input
        .iter()
        .any(|&b| b == b'%' || (plus_is_space && b == b'+'))
    {
        return Cow::Borrowed(input);
    }
    let mut out = Vec::with_capacity(input.len());
    let mut i = 0;
    while i < input.len() {
        let b = input[i];
        match (b, input.get(i + 1..i + 3)) {
            (b'%', Some(&[h, l])) if h.is_ascii_hexdigit() && l.is_ascii_hexdigit() => {
                out.push((hex(h) << 4) | hex(l));
                i += 3;
                continue;
            }
            (b'+', _) if plus_is_space => out.push(b' '),
            _ => out.push(b),
        }
        i += 1;
    }
    Cow::Owned(out)
}

/// The decoded values of every parameter of `query` (without `?`) whose decoded name is
/// `name`, in order; a parameter without `=` has an empty value.
pub fn query_values<'q: 'n, 'n>(
    query: &'q [u8],
    name: &'n str,
    plus_is_space: bool,
) -> impl Iterator<Item = Cow<'q, [u8]>> + 'n {
    query
        .split(|&b| b == b'&')
        .filter(|pair| !pair.is_empty())
        .filter_map(move |pair| {
            let (key, value) = match pair.iter().position(|&b| b == b'=') {
                Some(eq) => (&pair[..eq], &pair[eq + 1..]),
                None => (pair, &b""[..]),
            };
            (percent_decode(key, plus_is_space).as_ref() == name.as_bytes())
                .then(|| percent_decode(value, plus_is_space))
        })
}

/// The value of an ASCII hex digit (callers check `is_ascii_hexdigit` first).
fn hex(b: u8) -> u8 {
    match b {
        b'0'..=b'9' => b - b'0',
        b'a'..=b'f' => b - b'a' + 10,
        b'A'..=b'F' => b - b'A' + 10,
        _ => 0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decoding_keeps_bad_escapes_and_borrows_when_plain() {
        assert_eq!(percent_decode(b"/plain", false), Cow::Borrowed(b"/plain"));
        assert_eq!(percent_decode(b"a%41%4a%4A", false).as_ref(), b"aAJJ");
        assert_eq!(percent_decode(b"a+b%2", true).as_ref(), b"a b%2");
        assert_eq!(percent_decode(b"a+b", false), Cow::Borrowed(b"a+b"));
        assert_eq!(
            percent_decode(b"%%41%g1%zz%4", false).as_ref(),
            b"%A%g1%zz%4"
        );
    }

    #[test]
    fn query_values_decode_names_and_values() {
        let q = b"a=1&b%5Fc=x+y&a=2&flag";
        let a: Vec<_> = query_values(q, "a", true).collect();
        assert_eq!(a, [Cow::Borrowed(&b"1"[..]), Cow::Borrowed(&b"2"[..])]);
        assert_eq!(
            query_values(q, "b_c", true).next().unwrap().as_ref(),
            b"x y"
        );
        assert_eq!(query_values(q, "flag", true).next().unwrap().as_ref(), b"");
        assert!(query_values(q, "z", true).next().is_none());
    }
}
