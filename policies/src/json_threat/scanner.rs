//! A streaming JSON syntax checker: a byte-at-a-time state machine that never builds a tree.
//!
//! It keeps one small frame per open container (bounded by `max_depth`), the grammar
//! position (`Expect`) and the lexical state of the token in progress (`Lex`), so a
//! document may be fed in any chunk split and the verdict is the same.
//!
//! Grammar: RFC 8259. Strings must be valid UTF-8 without raw control characters; escapes
//! are `\" \\ \/ \b \f \n \r \t \uXXXX`. A lone surrogate escape is accepted, as the RFC's
//! grammar allows it (section 8.2); parsers that care reject it themselves.

/// The limits the scanner enforces while it reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct JsonLimits {
    /// Deepest nesting of objects and arrays; the top-level container is depth 1.
    pub max_depth: usize,
    /// Most keys in one object (a repeated key counts each time).
    pub max_keys: usize,
    /// Longest string (keys included), counted in Unicode scalar values after unescaping.
    pub max_string_length: usize,
    /// Most elements in one array.
    pub max_array_size: usize,
}

/// Which limit a document broke.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Limit {
    /// `max_depth`.
    Depth,
    /// `max_keys`.
    Keys,
    /// `max_string_length`.
    StringLength,
    /// `max_array_size`.
    ArraySize,
}

/// Why the scanner stopped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ScanError {
    /// The bytes are not JSON.
    Invalid {
        /// What was wrong, e.g. `expected ':'`.
        reason: &'static str,
        /// Offset of the offending byte in the body (the body length at the end).
        offset: u64,
    },
    /// The document is JSON-shaped but breaks a limit.
    Limit(Limit),
}

/// Grammar position between tokens: what may come next.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Expect {
    /// A value (top level, after `:`, or after `,` in an array).
    Value,
    /// A value or `]` (just after `[`).
    ValueOrClose,
    /// A key or `}` (just after `{`).
    KeyOrClose,
    /// A key (after `,` in an object).
    Key,
    /// The `:` after a key.
    Colon,
    /// `,` or the closing bracket of the innermost container.
    CommaOrClose,
    /// The top-level value is complete: only whitespace may follow.
    Done,
}

/// States of the number grammar `-? (0 | [1-9][0-9]*) (. [0-9]+)? ([eE] [+-]? [0-9]+)?`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Num {
    Minus,
    Zero,
    Int,
    Dot,
    Frac,
    Exp,
    ExpSign,
    ExpDigits,
}

/// Lexical state: the token in progress, if any.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Lex {
    /// Between tokens.
    Between,
    /// Inside a string, after an ordinary character.
    Str,
    /// Inside a string, just after `\`.
    StrEscape,
    /// Inside a `\uXXXX` escape: hex digits still to read, and the value so far.
    StrHex {
        left: u8,
        value: u16,
    },
    /// Inside a multi-byte UTF-8 character: continuation bytes still to read, and the
    /// allowed range of the next one (narrower than `80..=BF` right after some lead bytes,
    /// which rules out overlong forms, surrogates and code points past U+10FFFF).
    StrUtf8 {
        left: u8,
        lo: u8,
        hi: u8,
    },
    Number(Num),
    /// Inside `true`, `false` or `null`: the word and how many bytes matched.
    Literal {
        word: &'static [u8],
        pos: u8,
    },
}

/// One open container.
#[derive(Debug, Clone, Copy)]
struct Frame {
    object: bool,
    /// Keys so far (object) or elements so far (array).
    count: usize,
}

/// The streaming checker's state. Feed it with [`Scanner::feed`], end with
/// [`Scanner::finish`]; after an error its state is unspecified and it must not be fed.
#[derive(Debug, Clone)]
pub struct Scanner {
    limits: JsonLimits,
    stack: Vec<Frame>,
    expect: Expect,
    lex: Lex,
    /// The string in progress is an object key (so `:` follows it).
    string_is_key: bool,
    /// Characters of the string in progress.
    string_len: usize,
    /// The last thing in the string was a `\u` escape of a high surrogate, so a low
    /// surrogate escape right after it completes one character rather than adding one.
    after_high_surrogate: bool,
    /// Bytes consumed so far, for error offsets.
    offset: u64,
}

impl Scanner {
    /// A scanner at the start of a document.
    pub fn new(limits: JsonLimits) -> Self {
        Self {
            limits,
            // Most documents are shallow; the stack grows at most to `max_depth` frames.
            stack: Vec::with_capacity(limits.max_depth.min(8)),
            expect: Expect::Value,
            lex: Lex::Between,
            string_is_key: false,
            string_len: 0,
            after_high_surrogate: false,
            offset: 0,
        }
    }

    /// True when no byte has been consumed.
    pub fn is_empty(&self) -> bool {
        self.offset == 0
    }

    /// Consumes `chunk`, which may end anywhere (inside a string, escape, UTF-8 character,
    /// number or literal). Returns the first error found.
    pub fn feed(&mut self, chunk: &[u8]) -> Result<(), ScanError> {
        let mut i = 0;
        while i < chunk.len() {
            if self.lex == Lex::Str {
                // Fast path through the plain ASCII run of a string: most string bytes are
                // neither quotes, backslashes, control characters nor UTF-8.
                let run = chunk[i..]
                    .iter()
                    .position(|&b| b == b'"' || b == b'\\' || !(0x20..0x80).contains(&b))
                    .unwrap_or(chunk.len() - i);
                if run > 0 {
                    self.offset += run as u64;
                    i += run;
                    self.after_high_surrogate = false;
                    self.add_chars(run)?;
                    continue;
                }
            }
            let b = chunk[i];
            // A byte that ends a number is not part of it and is read again between tokens.
            if !self.step(b)? {
                continue;
            }
            self.offset += 1;
            i += 1;
        }
        Ok(())
    }

    /// Ends the document: `Ok` when exactly one complete JSON value was read.
    pub fn finish(&mut self) -> Result<(), ScanError> {
        match self.lex {
            Lex::Between => {}
            Lex::Number(n) if number_may_end(n) => {
                self.lex = Lex::Between;
                self.value_done();
            }
            Lex::Number(_) => return Err(self.invalid("truncated number")),
            Lex::Literal { .. } => return Err(self.invalid("truncated literal")),
            Lex::Str | Lex::StrEscape | Lex::StrHex { .. } | Lex::StrUtf8 { .. } => {
                return Err(self.invalid("unterminated string"))
            }
        }
        if self.expect == Expect::Done {
            Ok(())
        } else if self.offset == 0 {
            Err(self.invalid("empty document"))
        } else {
            Err(self.invalid("unexpected end of document"))
        }
    }

    /// Advances by one byte. Returns `Ok(false)` when `b` was not consumed (it ended a
    /// number) and must be stepped again.
    fn step(&mut self, b: u8) -> Result<bool, ScanError> {
        match self.lex {
            Lex::Between => self.between(b)?,
            Lex::Str => match b {
                b'"' => self.string_done(),
                b'\\' => self.lex = Lex::StrEscape,
                0..=0x1f => return Err(self.invalid("control character in string")),
                0x20..=0x7f => {
                    self.after_high_surrogate = false;
                    self.add_chars(1)?;
                }
                _ => {
                    let (left, lo, hi) =
                        utf8_lead(b).ok_or_else(|| self.invalid("invalid UTF-8"))?;
                    self.after_high_surrogate = false;
                    self.add_chars(1)?;
                    self.lex = Lex::StrUtf8 { left, lo, hi };
                }
            },
            Lex::StrUtf8 { left, lo, hi } => {
                if b < lo || b > hi {
                    return Err(self.invalid("invalid UTF-8"));
                }
                self.lex = if left == 1 {
                    Lex::Str
                } else {
                    Lex::StrUtf8 {
                        left: left - 1,
                        lo: 0x80,
                        hi: 0xbf,
                    }
                };
            }
            Lex::StrEscape => match b {
                b'"' | b'\\' | b'/' | b'b' | b'f' | b'n' | b'r' | b't' => {
                    self.after_high_surrogate = false;
                    self.add_chars(1)?;
                    self.lex = Lex::Str;
                }
                b'u' => self.lex = Lex::StrHex { left: 4, value: 0 },
                _ => return Err(self.invalid("invalid escape in string")),
            },
            Lex::StrHex { left, value } => {
                let digit = hex_value(b).ok_or_else(|| self.invalid("invalid \\u escape"))?;
                let value = (value << 4) | u16::from(digit);
                if left > 1 {
                    self.lex = Lex::StrHex {
                        left: left - 1,
                        value,
                    };
                } else {
                    let low = (0xdc00..=0xdfff).contains(&value);
                    // A surrogate pair is one character: count only its first half.
                    if !(low && self.after_high_surrogate) {
                        self.add_chars(1)?;
                    }
                    self.after_high_surrogate = (0xd800..=0xdbff).contains(&value);
                    self.lex = Lex::Str;
                }
            }
            Lex::Number(n) => match next_number_state(n, b) {
                NumStep::Go(next) => self.lex = Lex::Number(next),
                NumStep::End => {
                    self.lex = Lex::Between;
                    self.value_done();
                    return Ok(false);
                }
                NumStep::Invalid(reason) => return Err(self.invalid(reason)),
            },
            Lex::Literal { word, pos } => {
                let pos = usize::from(pos);
                if word.get(pos) != Some(&b) {
                    return Err(self.invalid("invalid literal"));
                }
                if pos + 1 == word.len() {
                    self.lex = Lex::Between;
                    self.value_done();
                } else {
                    self.lex = Lex::Literal {
                        word,
                        pos: (pos + 1) as u8,
                    };
                }
            }
        }
        Ok(true)
    }

    /// A byte between tokens, read against the grammar position.
    fn between(&mut self, b: u8) -> Result<(), ScanError> {
        if matches!(b, b' ' | b'\t' | b'\n' | b'\r') {
            return Ok(());
        }
        match self.expect {
            Expect::ValueOrClose if b == b']' => self.close(false),
            Expect::Value | Expect::ValueOrClose => self.value_start(b),
            Expect::KeyOrClose if b == b'}' => self.close(true),
            Expect::KeyOrClose | Expect::Key => {
                if b != b'"' {
                    return Err(self.invalid("expected a string key"));
                }
                self.count_in_container()?;
                self.string_is_key = true;
                self.start_string();
                Ok(())
            }
            Expect::Colon => {
                if b != b':' {
                    return Err(self.invalid("expected ':'"));
                }
                self.expect = Expect::Value;
                Ok(())
            }
            Expect::CommaOrClose => {
                let object = self.stack.last().is_some_and(|f| f.object);
                match b {
                    b',' => {
                        self.expect = if object { Expect::Key } else { Expect::Value };
                        Ok(())
                    }
                    b'}' if object => self.close(true),
                    b']' if !object => self.close(false),
                    _ => Err(self.invalid("expected ',' or a closing bracket")),
                }
            }
            Expect::Done => Err(self.invalid("trailing data after the JSON value")),
        }
    }

    /// The first byte of a value.
    fn value_start(&mut self, b: u8) -> Result<(), ScanError> {
        if self.stack.last().is_some_and(|f| !f.object) {
            self.count_in_container()?;
        }
        match b {
            b'{' | b'[' => {
                if self.stack.len() >= self.limits.max_depth {
                    return Err(ScanError::Limit(Limit::Depth));
                }
                let object = b == b'{';
                self.stack.push(Frame { object, count: 0 });
                self.expect = if object {
                    Expect::KeyOrClose
                } else {
                    Expect::ValueOrClose
                };
            }
            b'"' => {
                self.string_is_key = false;
                self.start_string();
            }
            b'-' => self.lex = Lex::Number(Num::Minus),
            b'0' => self.lex = Lex::Number(Num::Zero),
            b'1'..=b'9' => self.lex = Lex::Number(Num::Int),
            b't' => self.start_literal(b"true"),
            b'f' => self.start_literal(b"false"),
            b'n' => self.start_literal(b"null"),
            _ => return Err(self.invalid("expected a JSON value")),
        }
        Ok(())
    }

    fn start_string(&mut self) {
        self.lex = Lex::Str;
        self.string_len = 0;
        self.after_high_surrogate = false;
    }

    fn start_literal(&mut self, word: &'static [u8]) {
        // The first letter is already matched.
        self.lex = Lex::Literal { word, pos: 1 };
    }

    fn string_done(&mut self) {
        self.lex = Lex::Between;
        if self.string_is_key {
            self.expect = Expect::Colon;
        } else {
            self.value_done();
        }
    }

    /// A value ended: what may follow depends on the container around it.
    fn value_done(&mut self) {
        self.expect = if self.stack.is_empty() {
            Expect::Done
        } else {
            Expect::CommaOrClose
        };
    }

    fn close(&mut self, object: bool) -> Result<(), ScanError> {
        // `between` only calls this for the bracket matching the innermost container.
        debug_assert_eq!(self.stack.last().map(|f| f.object), Some(object));
        self.stack.pop();
        self.value_done();
        Ok(())
    }

    /// Counts a key or element of the innermost container against its limit.
    fn count_in_container(&mut self) -> Result<(), ScanError> {
        let Some(frame) = self.stack.last_mut() else {
            return Ok(());
        };
        frame.count += 1;
        let (count, object) = (frame.count, frame.object);
        if object && count > self.limits.max_keys {
            Err(ScanError::Limit(Limit::Keys))
        } else if !object && count > self.limits.max_array_size {
            Err(ScanError::Limit(Limit::ArraySize))
        } else {
            Ok(())
        }
    }

    fn add_chars(&mut self, n: usize) -> Result<(), ScanError> {
        self.string_len += n;
        if self.string_len > self.limits.max_string_length {
            Err(ScanError::Limit(Limit::StringLength))
        } else {
            Ok(())
        }
    }

    fn invalid(&self, reason: &'static str) -> ScanError {
        ScanError::Invalid {
            reason,
            offset: self.offset,
        }
    }
}

/// What a byte does to a number in progress.
enum NumStep {
    Go(Num),
    /// The byte is not part of the number, which is complete.
    End,
    Invalid(&'static str),
}

fn next_number_state(n: Num, b: u8) -> NumStep {
    use NumStep::{End, Go, Invalid};
    let digit = b.is_ascii_digit();
    let exp = b == b'e' || b == b'E';
    match n {
        Num::Minus if b == b'0' => Go(Num::Zero),
        Num::Minus if digit => Go(Num::Int),
        Num::Minus => Invalid("expected a digit after '-'"),
        Num::Zero if digit => Invalid("leading zero in number"),
        Num::Zero | Num::Int | Num::Frac if exp => Go(Num::Exp),
        Num::Zero | Num::Int if b == b'.' => Go(Num::Dot),
        Num::Int | Num::Frac if digit => Go(n),
        Num::Zero | Num::Int | Num::Frac => End,
        Num::Dot if digit => Go(Num::Frac),
        Num::Dot => Invalid("expected a digit after '.'"),
        Num::Exp if b == b'+' || b == b'-' => Go(Num::ExpSign),
        Num::Exp | Num::ExpSign if digit => Go(Num::ExpDigits),
        Num::Exp | Num::ExpSign => Invalid("expected a digit in the exponent"),
        Num::ExpDigits if digit => Go(Num::ExpDigits),
        Num::ExpDigits => End,
    }
}

/// True when a number may stop in state `n`.
fn number_may_end(n: Num) -> bool {
    matches!(n, Num::Zero | Num::Int | Num::Frac | Num::ExpDigits)
}

/// For a UTF-8 lead byte: continuation bytes that follow, and the allowed range of the
/// first of them (RFC 3629 section 4). `None` for a byte that cannot start a character.
fn utf8_lead(b: u8) -> Option<(u8, u8, u8)> {
    Some(match b {
        0xc2..=0xdf => (1, 0x80, 0xbf),
        0xe0 => (2, 0xa0, 0xbf),
        0xe1..=0xec | 0xee..=0xef => (2, 0x80, 0xbf),
        0xed => (2, 0x80, 0x9f),
        0xf0 => (3, 0x90, 0xbf),
        0xf1..=0xf3 => (3, 0x80, 0xbf),
        0xf4 => (3, 0x80, 0x8f),
        _ => return None,
    })
}

fn hex_value(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}
