//! Codec micro-benchmarks. Each group reports bytes/s and carries a baseline measured in
//! the same run on the same bytes, so the report reads as a ratio to "the least any parser
//! must do": finding the end of the head, or copying the body once.

use bytes::BytesMut;
use criterion::{
    black_box, criterion_group, criterion_main, BatchSize, BenchmarkId, Criterion, Throughput,
};
use sluice_codec::{
    encode_chunk, encode_last_chunk, parse_request_head, parse_response_head, ChunkedDecoder,
    ChunkedEvent, HeadLimits, Method,
};

/// A browser-like GET with 8 headers.
const BROWSER_GET: &[u8] = b"GET /static/app.js?v=1234 HTTP/1.1\r\n\
Host: www.example.com\r\n\
User-Agent: Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0\r\n\
Accept: text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8\r\n\
Accept-Language: en-US,en;q=0.5\r\n\
Accept-Encoding: gzip, deflate, br\r\n\
Connection: keep-alive\r\n\
Cookie: session=0123456789abcdef0123456789abcdef; theme=dark\r\n\
Referer: https://www.example.com/index.html\r\n\
\r\n";

/// A typical upstream response head.
const RESPONSE: &[u8] = b"HTTP/1.1 200 OK\r\n\
Date: Tue, 25 Nov 2025 12:00:00 GMT\r\n\
Content-Type: application/json; charset=utf-8\r\n\
Content-Length: 1234\r\n\
Cache-Control: private, max-age=0\r\n\
ETag: \"33a64df551425fcc55e4d42a148795d9f25f89d4\"\r\n\
Vary: Accept-Encoding\r\n\
Server: upstream\r\n\
\r\n";

/// A request with 20 headers, as an API client behind a CDN sends.
fn twenty_header_request() -> Vec<u8> {
    let mut raw = b"POST /api/v1/orders?expand=items HTTP/1.1\r\nHost: api.example.com\r\n\
Content-Type: application/json\r\nContent-Length: 512\r\n"
        .to_vec();
    for i in 0..17 {
        raw.extend_from_slice(
            format!("X-Forwarded-Header-{i}: value-{i}-0123456789abcdef\r\n").as_bytes(),
        );
    }
    raw.extend_from_slice(b"\r\n");
    raw
}

/// Baseline: the position after the first `\r\n\r\n`, the one scan every head parser does.
fn find_head_end(buf: &[u8]) -> Option<usize> {
    buf.windows(4).position(|w| w == b"\r\n\r\n").map(|i| i + 4)
}

fn heads(c: &mut Criterion) {
    let limits = HeadLimits::default();
    let twenty = twenty_header_request();
    let mut group = c.benchmark_group("parse_request_head");
    for (name, raw) in [
        ("browser_get_8_headers", BROWSER_GET),
        ("api_20_headers", &twenty[..]),
    ] {
        group.throughput(Throughput::Bytes(raw.len() as u64));
        group.bench_with_input(BenchmarkId::new("sluice", name), raw, |b, raw| {
            b.iter_batched(
                || BytesMut::from(raw),
                |mut buf| parse_request_head(&mut buf, &limits),
                BatchSize::SmallInput,
            )
        });
        group.bench_with_input(
            BenchmarkId::new("baseline_find_end", name),
            raw,
            |b, raw| b.iter(|| find_head_end(black_box(raw))),
        );
    }
    group.finish();

    let mut group = c.benchmark_group("parse_response_head");
    group.throughput(Throughput::Bytes(RESPONSE.len() as u64));
    group.bench_function("sluice", |b| {
        b.iter_batched(
            || BytesMut::from(RESPONSE),
            |mut buf| parse_response_head(&mut buf, &limits, &Method::Get),
            BatchSize::SmallInput,
        )
    });
    group.bench_function("baseline_find_end", |b| {
        b.iter(|| find_head_end(black_box(RESPONSE)))
    });
    group.finish();
}

fn chunked(c: &mut Criterion) {
    let body: Vec<u8> = (0..64 * 1024).map(|i| (i % 251) as u8).collect();
    let mut wire = BytesMut::new();
    for chunk in body.chunks(4 * 1024) {
        encode_chunk(chunk, &mut wire);
    }
    encode_last_chunk(&mut wire);
    let wire = wire.freeze();

    let mut group = c.benchmark_group("decode_chunked");
    group.throughput(Throughput::Bytes(body.len() as u64));
    group.bench_function("sluice_64k_in_4k_chunks", |b| {
        b.iter_batched(
            || BytesMut::from(&wire[..]),
            |mut src| {
                let mut decoder = ChunkedDecoder::new();
                let mut total = 0;
                while let Ok(Some(event)) = decoder.decode(&mut src) {
                    match event {
                        ChunkedEvent::Data(data) => total += data.len(),
                        ChunkedEvent::End => break,
                    }
                }
                assert_eq!(total, 64 * 1024);
                total
            },
            BatchSize::SmallInput,
        )
    });
    // Baseline: copying the body once, which a decoder that did not slice would add.
    group.bench_function("baseline_copy_64k", |b| {
        b.iter_batched(
            || BytesMut::with_capacity(body.len()),
            |mut dst| {
                dst.extend_from_slice(black_box(&body));
                dst
            },
            BatchSize::SmallInput,
        )
    });
    group.finish();
}

criterion_group!(benches, heads, chunked);
criterion_main!(benches);
