//! `GET /admin/ui`: the live dashboard, one self-contained HTML page embedded in the binary.

/// The page (HTML, CSS and script in one file, so the binary carries everything).
const PAGE: &str = include_str!("ui.html");

/// The whole HTTP response for `GET /admin/ui`.
pub(super) fn response() -> Vec<u8> {
    let mut out = format!(
        "HTTP/1.1 200 OK\r\ncontent-type: text/html; charset=utf-8\r\ncache-control: no-store\r\n\
         x-content-type-options: nosniff\r\nx-frame-options: DENY\r\n\
         content-security-policy: default-src 'self'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; connect-src 'self'\r\n\
         connection: close\r\ncontent-length: {}\r\n\r\n",
        PAGE.len()
    )
    .into_bytes();
    out.extend_from_slice(PAGE.as_bytes());
    out
}
