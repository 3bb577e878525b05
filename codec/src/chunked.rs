//! `Transfer-Encoding: chunked` body decoding (RFC 9112 section 7.1) as an explicit state
//! machine, so a body can arrive split at any byte and be decoded without buffering.

use bytes::{Buf, Bytes, BytesMut};

use crate::{CodecError, MAX_CHUNK_EXT_BYTES, MAX_TRAILER_BYTES};

/// Most hex digits in a chunk size: 16 digits fill a `u64`, so a longer size either
/// overflows or is padded with zeros, and padding is a classic way to make parsers that
/// count digits differently disagree.
const MAX_CHUNK_SIZE_DIGITS: u8 = 16;

/// What [`ChunkedDecoder::decode`] produced.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ChunkedEvent {
    /// Body bytes, possibly only part of a chunk; a slice of the input, never a copy.
    Data(Bytes),
    /// The last chunk and the trailer section were consumed; the body is complete.
    End,
}

/// Decodes a chunked body fed in pieces. Create one per body with [`ChunkedDecoder::new`]
/// and call [`decode`](ChunkedDecoder::decode) whenever new bytes arrive.
#[derive(Debug, Clone)]
pub struct ChunkedDecoder {
    state: ChunkedState,
    /// Size of the chunk being read, while in `Size`; body bytes left, while in `Data`.
    size: u64,
    /// Hex digits read so far in the current size.
    digits: u8,
    /// Bytes of the current chunk extension, bounded by [`MAX_CHUNK_EXT_BYTES`].
    ext_len: usize,
    /// Bytes of the trailer section so far, bounded by [`MAX_TRAILER_BYTES`].
    trailer_len: usize,
}

/// Where the decoder is in `chunk-size [chunk-ext] CRLF chunk-data CRLF ... last-chunk
/// trailer-section CRLF`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ChunkedState {
    /// Reading hex digits of a chunk size.
    Size,
    /// Whitespace after the size; only a `;` extension may follow (BWS in RFC 9112).
    SizeLws,
    /// Inside a chunk extension, up to the CR.
    Ext,
    /// Read the CR ending a size line; expecting LF.
    SizeLf,
    /// Reading `size` body bytes.
    Data,
    /// Body of the chunk done; expecting CR.
    DataCr,
    /// Expecting the LF after a chunk's data.
    DataLf,
    /// At the start of a trailer line, or of the final empty line.
    Trailer,
    /// Inside a trailer field line, up to the CR.
    TrailerLine,
    /// Read the CR ending a trailer field line; expecting LF.
    TrailerLf,
    /// Read the CR of the final empty line; expecting LF.
    End,
    /// The whole body was consumed.
    Done,
}

impl Default for ChunkedDecoder {
    fn default() -> Self {
        Self::new()
    }
}

impl ChunkedDecoder {
    /// A decoder at the start of a chunked body.
    pub fn new() -> Self {
        Self {
            state: ChunkedState::Size,
            size: 0,
            digits: 0,
            ext_len: 0,
            trailer_len: 0,
        }
    }

    /// True once the last chunk and the trailer section have been consumed.
    pub fn is_done(&self) -> bool {
        self.state == ChunkedState::Done
    }

    /// Consumes framing from the front of `src` and returns the next event.
    ///
    /// - `Ok(Some(Data(bytes)))` as soon as any body bytes of the current chunk are in
    ///   `src`; they are split off `src` without copying. Only part of a chunk may be
    ///   returned; call again for the rest.
    /// - `Ok(Some(End))` once the last chunk and trailers are consumed, and on every later
    ///   call (consuming nothing), so bytes after the body stay in `src`.
    /// - `Ok(None)` when `src` is used up and more input is needed; framing bytes already
    ///   seen are consumed and remembered.
    /// - `Err` for malformed framing: see [`CodecError::InvalidChunkSize`],
    ///   [`CodecError::InvalidChunk`], [`CodecError::ChunkExtensionTooLong`],
    ///   [`CodecError::TrailersTooLarge`]. The decoder and `src` are then unspecified;
    ///   close the connection.
    ///
    /// Never panics.
    pub fn decode(&mut self, src: &mut BytesMut) -> Result<Option<ChunkedEvent>, CodecError> {
        // Framing bytes are stepped through by index and consumed with one `advance`.
        let mut used = 0;
        loop {
            match self.state {
                ChunkedState::Done => {
                    src.advance(used);
                    return Ok(Some(ChunkedEvent::End));
                }
                ChunkedState::Data => {
                    src.advance(used);
                    if src.is_empty() {
                        return Ok(None);
                    }
                    // `min` with a usize length, so the cast cannot truncate.
                    let take = self.size.min(src.len() as u64) as usize;
                    self.size -= take as u64;
                    if self.size == 0 {
                        self.state = ChunkedState::DataCr;
                    }
                    return Ok(Some(ChunkedEvent::Data(src.split_to(take).freeze())));
                }
                _ => {}
            }
            let Some(&byte) = src.get(used) else {
                src.advance(used);
                return Ok(None);
            };
            used += 1;
            self.step(byte)?;
        }
    }

    /// Advances the framing states by one byte. `Data` and `Done` are handled by `decode`.
    fn step(&mut self, byte: u8) -> Result<(), CodecError> {
        use ChunkedState::*;
        self.state = match (self.state, byte) {
            (Size, b';') if self.digits > 0 => Ext,
            (Size, b' ' | b'\t') if self.digits > 0 => SizeLws,
            (Size, b'\r') if self.digits > 0 => SizeLf,
            (Size, _) => {
                let digit = hex_value(byte).ok_or(CodecError::InvalidChunkSize)?;
                if self.digits == MAX_CHUNK_SIZE_DIGITS {
                    return Err(CodecError::InvalidChunkSize);
                }
                self.digits += 1;
                self.size = (self.size << 4) | u64::from(digit);
                Size
            }
            (SizeLws, b' ' | b'\t') => {
                self.count_ext()?;
                SizeLws
            }
            (SizeLws, b';') => Ext,
            // A digit after whitespace ("5 5") or anything else: the size is ambiguous.
            (SizeLws, _) => return Err(CodecError::InvalidChunkSize),
            (Ext, b'\r') => SizeLf,
            // Extensions are ignored, but a bare LF or control byte inside one is how a
            // line end gets hidden from one parser and not another.
            (Ext, b'\t') => {
                self.count_ext()?;
                Ext
            }
            (Ext, _) if byte.is_ascii_control() => return Err(CodecError::InvalidChunk),
            (Ext, _) => {
                self.count_ext()?;
                Ext
            }
            (SizeLf, b'\n') => {
                let next = if self.size == 0 { Trailer } else { Data };
                self.digits = 0;
                self.ext_len = 0;
                next
            }
            (SizeLf, _) => return Err(CodecError::InvalidChunk),
            (DataCr, b'\r') => DataLf,
            (DataLf, b'\n') => {
                self.size = 0;
                Size
            }
            (DataCr | DataLf, _) => return Err(CodecError::InvalidChunk),
            (Trailer, b'\r') => End,
            (Trailer | TrailerLine, b'\n') => return Err(CodecError::InvalidChunk),
            (TrailerLine, b'\r') => TrailerLf,
            (Trailer | TrailerLine, _) => {
                self.count_trailer()?;
                TrailerLine
            }
            (TrailerLf, b'\n') => {
                self.count_trailer()?;
                Trailer
            }
            (TrailerLf | End, _) if byte != b'\n' => return Err(CodecError::InvalidChunk),
            (End, _) => Done,
            // Unreachable: `decode` never steps in these states, and every other pair is
            // matched above. An error is safer than a panic if that ever changes.
            (Data | Done | TrailerLf, _) => return Err(CodecError::InvalidChunk),
        };
        Ok(())
    }

    /// Counts one more extension byte (whitespace before `;` counts too).
    fn count_ext(&mut self) -> Result<(), CodecError> {
        self.ext_len += 1;
        if self.ext_len > MAX_CHUNK_EXT_BYTES {
            return Err(CodecError::ChunkExtensionTooLong);
        }
        Ok(())
    }

    /// Counts one more trailer byte (line ends count as one).
    fn count_trailer(&mut self) -> Result<(), CodecError> {
        self.trailer_len += 1;
        if self.trailer_len > MAX_TRAILER_BYTES {
            return Err(CodecError::TrailersTooLarge);
        }
        Ok(())
    }
}

/// The value of an ASCII hex digit.
fn hex_value(byte: u8) -> Option<u8> {
    match byte {
        b'0'..=b'9' => Some(byte - b'0'),
        b'a'..=b'f' => Some(byte - b'a' + 10),
        b'A'..=b'F' => Some(byte - b'A' + 10),
        _ => None,
    }
}

#[cfg(test)]
mod tests;
