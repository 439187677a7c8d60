//! Bounded big-endian reading and writing shared by the binary formats of this crate.
//!
//! Every length read from the wire is checked against a caller-given limit and against
//! the bytes actually present *before* anything is allocated, so a hostile length field
//! costs nothing (the lesson of CVE-2019-11878).

use thiserror::Error;

/// Why a byte string could not be decoded.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum DecodeError {
    /// The input ended before the field was complete.
    #[error("truncated: {field} needs {needed} more bytes, {available} available")]
    Truncated {
        /// The field being read.
        field: &'static str,
        /// Bytes the field needs.
        needed: usize,
        /// Bytes left in the input.
        available: usize,
    },
    /// A length field exceeds the limit the format allows.
    #[error("{field} length {len} exceeds the limit of {max}")]
    LengthTooLarge {
        /// The field being read.
        field: &'static str,
        /// The declared length.
        len: u64,
        /// The largest allowed length.
        max: u64,
    },
    /// Bytes were left over after the last field.
    #[error("{count} trailing bytes after {what}")]
    TrailingBytes {
        /// What was decoded.
        what: &'static str,
        /// How many bytes were left over.
        count: usize,
    },
    /// A field holds a value the format does not define.
    #[error("invalid {field}: {reason}")]
    InvalidValue {
        /// The field being read.
        field: &'static str,
        /// What is wrong with it.
        reason: String,
    },
}

/// A cursor over a byte slice that reads big-endian fields with bounds checks.
#[derive(Debug, Clone)]
pub struct Reader<'a> {
    buf: &'a [u8],
}

impl<'a> Reader<'a> {
    /// A reader over `buf`.
    pub fn new(buf: &'a [u8]) -> Self {
        Reader { buf }
    }

    /// Bytes not yet read.
    pub fn remaining(&self) -> usize {
        self.buf.len()
    }

    /// The unread bytes, without consuming them.
    pub fn rest(&self) -> &'a [u8] {
        self.buf
    }

    /// Reads exactly `n` bytes.
    pub fn bytes(&mut self, field: &'static str, n: usize) -> Result<&'a [u8], DecodeError> {
        if n > self.buf.len() {
            return Err(DecodeError::Truncated {
                field,
                needed: n,
                available: self.buf.len(),
            });
        }
        let (head, tail) = self.buf.split_at(n);
        self.buf = tail;
        Ok(head)
    }

    /// Reads a fixed-size array.
    pub fn array<const N: usize>(&mut self, field: &'static str) -> Result<[u8; N], DecodeError> {
        let mut out = [0u8; N];
        out.copy_from_slice(self.bytes(field, N)?);
        Ok(out)
    }

    /// Reads one byte.
    pub fn u8(&mut self, field: &'static str) -> Result<u8, DecodeError> {
        Ok(self.array::<1>(field)?[0])
    }

    /// Reads a big-endian `u16`.
    pub fn u16(&mut self, field: &'static str) -> Result<u16, DecodeError> {
        Ok(u16::from_be_bytes(self.array(field)?))
    }

    /// Reads a big-endian `u32`.
    pub fn u32(&mut self, field: &'static str) -> Result<u32, DecodeError> {
        Ok(u32::from_be_bytes(self.array(field)?))
    }

    /// Reads a big-endian `u64`.
    pub fn u64(&mut self, field: &'static str) -> Result<u64, DecodeError> {
        Ok(u64::from_be_bytes(self.array(field)?))
    }

    /// Reads a byte string preceded by a big-endian `u16` length of at most `max`.
    pub fn vec16(&mut self, field: &'static str, max: usize) -> Result<&'a [u8], DecodeError> {
        let len = usize::from(self.u16(field)?);
        self.bounded(field, len, max)
    }

    /// Reads a byte string preceded by a big-endian `u32` length of at most `max`.
    pub fn vec32(&mut self, field: &'static str, max: usize) -> Result<&'a [u8], DecodeError> {
        let len = self.u32(field)?;
        let len = usize::try_from(len).unwrap_or(usize::MAX);
        self.bounded(field, len, max)
    }

    /// Reads a UTF-8 string preceded by a `u16` length of at most `max` bytes.
    pub fn str16(&mut self, field: &'static str, max: usize) -> Result<&'a str, DecodeError> {
        let raw = self.vec16(field, max)?;
        std::str::from_utf8(raw).map_err(|e| DecodeError::InvalidValue {
            field,
            reason: format!("not UTF-8 ({e})"),
        })
    }

    fn bounded(
        &mut self,
        field: &'static str,
        len: usize,
        max: usize,
    ) -> Result<&'a [u8], DecodeError> {
        if len > max {
            return Err(DecodeError::LengthTooLarge {
                field,
                len: len as u64,
                max: max as u64,
            });
        }
        self.bytes(field, len)
    }

    /// Fails unless every byte has been read.
    pub fn finish(&self, what: &'static str) -> Result<(), DecodeError> {
        if self.buf.is_empty() {
            Ok(())
        } else {
            Err(DecodeError::TrailingBytes {
                what,
                count: self.buf.len(),
            })
        }
    }
}

/// Big-endian writers for the formats of this crate, as methods on `Vec<u8>`.
pub trait Writer {
    /// Appends a big-endian `u16`.
    fn put_u16(&mut self, v: u16);
    /// Appends a big-endian `u32`.
    fn put_u32(&mut self, v: u32);
    /// Appends a big-endian `u64`.
    fn put_u64(&mut self, v: u64);
    /// Appends a `u16` length and the bytes; the caller guarantees `b.len() <= u16::MAX`.
    fn put_vec16(&mut self, b: &[u8]);
    /// Appends a `u32` length and the bytes; the caller guarantees `b.len() <= u32::MAX`.
    fn put_vec32(&mut self, b: &[u8]);
}

impl Writer for Vec<u8> {
    fn put_u16(&mut self, v: u16) {
        self.extend_from_slice(&v.to_be_bytes());
    }
    fn put_u32(&mut self, v: u32) {
        self.extend_from_slice(&v.to_be_bytes());
    }
    fn put_u64(&mut self, v: u64) {
        self.extend_from_slice(&v.to_be_bytes());
    }
    fn put_vec16(&mut self, b: &[u8]) {
        debug_assert!(b.len() <= usize::from(u16::MAX));
        self.put_u16(b.len() as u16);
        self.extend_from_slice(b);
    }
    fn put_vec32(&mut self, b: &[u8]) {
        debug_assert!(u32::try_from(b.len()).is_ok());
        self.put_u32(b.len() as u32);
        self.extend_from_slice(b);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn length_over_limit_is_refused_before_reading() {
        // Declares 4 GiB but carries two bytes: must fail on the limit, not allocate.
        let input = [0xFF, 0xFF, 0xFF, 0xFF, 1, 2];
        let err = Reader::new(&input).vec32("blob", 1024).unwrap_err();
        assert!(matches!(
            err,
            DecodeError::LengthTooLarge {
                len: 0xFFFF_FFFF,
                max: 1024,
                ..
            }
        ));
    }

    #[test]
    fn truncated_and_trailing_are_reported() {
        let err = Reader::new(&[0, 5, 1, 2]).vec16("name", 100).unwrap_err();
        assert!(matches!(
            err,
            DecodeError::Truncated {
                needed: 5,
                available: 2,
                ..
            }
        ));
        let mut r = Reader::new(&[1, 2, 3]);
        r.u8("a").unwrap();
        assert!(matches!(
            r.finish("thing"),
            Err(DecodeError::TrailingBytes { count: 2, .. })
        ));
    }

    proptest! {
        #[test]
        fn round_trip(a: u8, b: u16, c: u32, d: u64, s in proptest::collection::vec(any::<u8>(), 0..300)) {
            let mut out = Vec::new();
            out.push(a);
            out.put_u16(b);
            out.put_u32(c);
            out.put_u64(d);
            out.put_vec16(&s);
            out.put_vec32(&s);
            let mut r = Reader::new(&out);
            prop_assert_eq!(r.u8("a").unwrap(), a);
            prop_assert_eq!(r.u16("b").unwrap(), b);
            prop_assert_eq!(r.u32("c").unwrap(), c);
            prop_assert_eq!(r.u64("d").unwrap(), d);
            prop_assert_eq!(r.vec16("s", 300).unwrap(), &s[..]);
            prop_assert_eq!(r.vec32("s", 300).unwrap(), &s[..]);
            prop_assert!(r.finish("all").is_ok());
        }
    }
}
