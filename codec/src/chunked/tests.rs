use super::*;
use crate::{encode_chunk, encode_last_chunk, CodecError::*};

/// Decodes `input` fed in pieces of `step` bytes; returns the body, whether End was seen,
/// the bytes left after the body, or the first error.
fn decode_in_steps(input: &[u8], step: usize) -> Result<(Vec<u8>, bool, Vec<u8>), CodecError> {
    let mut decoder = ChunkedDecoder::new();
    let mut src = BytesMut::new();
    let mut body = Vec::new();
    for piece in input.chunks(step.max(1)) {
        src.extend_from_slice(piece);
        loop {
            match decoder.decode(&mut src)? {
                Some(ChunkedEvent::Data(data)) => {
                    assert!(!data.is_empty());
                    body.extend_from_slice(&data);
                }
                Some(ChunkedEvent::End) => {
                    assert!(decoder.is_done());
                    // End repeats and consumes nothing.
                    let before = src.len();
                    assert_eq!(decoder.decode(&mut src), Ok(Some(ChunkedEvent::End)));
                    assert_eq!(src.len(), before);
                    // Bytes after the body are left for the caller: what is still in `src`
                    // plus what was not fed yet.
                    let mut rest = src.to_vec();
                    rest.extend_from_slice(&input[input.len() - unfed_after(input, piece)..]);
                    return Ok((body, true, rest));
                }
                None => break,
            }
        }
    }
    Ok((body, false, src.to_vec()))
}

/// Bytes of `input` after `piece` (a sub-slice of it).
fn unfed_after(input: &[u8], piece: &[u8]) -> usize {
    let piece_end = piece.as_ptr() as usize - input.as_ptr() as usize + piece.len();
    input.len() - piece_end
}

fn decode_all_ways(input: &[u8]) -> Result<(Vec<u8>, bool, Vec<u8>), CodecError> {
    let whole = decode_in_steps(input, input.len());
    for step in [1, 2, 3, 7] {
        assert_eq!(
            decode_in_steps(input, step),
            whole,
            "step {step}: {:?}",
            String::from_utf8_lossy(input)
        );
    }
    whole
}

#[test]
fn valid_bodies() {
    // (input, body, bytes left after the body)
    let cases: &[(&[u8], &[u8], &[u8])] = &[
        (b"0\r\n\r\n", b"", b""),
        (
            b"5\r\nhello\r\n6\r\n world\r\n0\r\n\r\nNEXT",
            b"hello world",
            b"NEXT",
        ),
        (b"A\r\n0123456789\r\n0\r\n\r\n", b"0123456789", b""),
        (
            b"a;name=value;x=\"q s\"\r\n0123456789\r\n0;last\r\n\r\n",
            b"0123456789",
            b"",
        ),
        (b"3 ;ext\r\nabc\r\n0\r\n\r\n", b"abc", b""),
        (
            b"000000000000000f\r\n0123456789abcde\r\n0\r\n\r\n",
            b"0123456789abcde",
            b"",
        ),
        (
            b"2\r\nhi\r\n0\r\nTrailer: x\r\nOther: y\r\n\r\nGET",
            b"hi",
            b"GET",
        ),
    ];
    for (input, body, rest) in cases {
        let (got, done, left) = decode_all_ways(input).unwrap();
        assert!(done, "{:?}", String::from_utf8_lossy(input));
        assert_eq!(&got[..], *body);
        assert_eq!(&left[..], *rest);
    }
}

#[test]
fn incomplete_bodies_ask_for_more() {
    for input in [
        &b"5\r\nhel"[..],
        b"5\r\nhello\r\n",
        b"0\r\n",
        b"0\r\nX: y\r\n",
        b"ff",
    ] {
        let (_, done, _) = decode_all_ways(input).unwrap();
        assert!(!done, "{:?}", String::from_utf8_lossy(input));
    }
}

#[test]
fn data_is_returned_before_the_chunk_is_complete_and_without_copying() {
    let mut decoder = ChunkedDecoder::new();
    let mut src = BytesMut::from(&b"5\r\nhel"[..]);
    let start = src.as_ptr() as usize;
    let Ok(Some(ChunkedEvent::Data(data))) = decoder.decode(&mut src) else {
        panic!("expected data");
    };
    assert_eq!(&data[..], b"hel");
    assert_eq!(
        data.as_ptr() as usize,
        start + 3,
        "data must be a slice of the input"
    );
    assert_eq!(decoder.decode(&mut src), Ok(None));
    src.extend_from_slice(b"lo\r\n0\r\n\r\n");
    assert_eq!(
        decoder.decode(&mut src),
        Ok(Some(ChunkedEvent::Data(Bytes::from_static(b"lo"))))
    );
    assert_eq!(decoder.decode(&mut src), Ok(Some(ChunkedEvent::End)));
    assert!(src.is_empty());
}

#[test]
fn malformed_framing_is_refused() {
    let long_ext = format!(
        "1;{}\r\nx\r\n0\r\n\r\n",
        "e".repeat(MAX_CHUNK_EXT_BYTES + 1)
    );
    let long_trailer = format!("0\r\nX: {}\r\n\r\n", "t".repeat(MAX_TRAILER_BYTES));
    let cases: Vec<(&[u8], CodecError)> = vec![
        (b"\r\n", InvalidChunkSize),
        (b";ext\r\n", InvalidChunkSize),
        (b"g\r\n", InvalidChunkSize),
        (b"+5\r\nhello\r\n", InvalidChunkSize),
        (b"-5\r\nhello\r\n", InvalidChunkSize),
        (b"0x5\r\nhello\r\n", InvalidChunkSize),
        (b" 5\r\nhello\r\n", InvalidChunkSize),
        (b"5 5\r\nhello\r\n", InvalidChunkSize),
        (b"5 \r\nhello\r\n", InvalidChunkSize),
        (b"5\n", InvalidChunkSize),
        (b"00000000000000005\r\nhello\r\n", InvalidChunkSize),
        (b"10000000000000000\r\n", InvalidChunkSize),
        (b"5\rhello", InvalidChunk),
        (b"5;a\nhello", InvalidChunk),
        (b"5;a\0\r\nhello", InvalidChunk),
        (b"5\r\nhelloX\r\n", InvalidChunk),
        (b"5\r\nhello\n0\r\n\r\n", InvalidChunk),
        (b"5\r\nhello\r0\r\n\r\n", InvalidChunk),
        (b"0\r\n\n", InvalidChunk),
        (b"0\r\nX: y\n\r\n", InvalidChunk),
        (b"0\r\nX: y\r\r\n", InvalidChunk),
        (b"0\r\n\rX", InvalidChunk),
        (long_ext.as_bytes(), ChunkExtensionTooLong),
        (long_trailer.as_bytes(), TrailersTooLarge),
    ];
    for (input, expected) in cases {
        let shown = String::from_utf8_lossy(&input[..input.len().min(40)]);
        assert_eq!(
            decode_all_ways(input).map(|_| ()),
            Err(expected),
            "{shown:?}"
        );
    }
}

#[test]
fn encode_then_decode_round_trips() {
    let body: Vec<u8> = (0..=255u8).cycle().take(10_000).collect();
    let mut wire = BytesMut::new();
    for piece in body.chunks(999) {
        encode_chunk(piece, &mut wire);
    }
    encode_last_chunk(&mut wire);
    let (got, done, rest) = decode_all_ways(&wire).unwrap();
    assert!(done && rest.is_empty());
    assert_eq!(got, body);
}
