//! A bounds-checked cursor over a received message that always knows its
//! absolute byte offset, so every error can say exactly where it happened.

use crate::error::{DecodeError, EncodeError, ErrorKind};

/// A cursor over a borrowed slice. `base` is the absolute offset of `buf[0]`
/// within the whole message, so sub-readers report message offsets too.
#[derive(Clone, Debug)]
pub(crate) struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
    base: usize,
}

impl<'a> Reader<'a> {
    /// A reader over a whole message (offset 0 is its first byte).
    pub(crate) fn new(buf: &'a [u8]) -> Self {
        Self { buf, pos: 0, base: 0 }
    }

    /// The absolute offset of the next byte to be read.
    pub(crate) fn offset(&self) -> usize {
        self.base + self.pos
    }

    pub(crate) fn remaining(&self) -> usize {
        self.buf.len() - self.pos
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.remaining() == 0
    }

    /// An error of `kind` at the current offset.
    pub(crate) fn error(&self, kind: ErrorKind) -> DecodeError {
        DecodeError::new(self.offset(), kind)
    }

    /// Takes `n` bytes, or fails with `short` (at the current offset) when
    /// fewer remain. The caller picks the error because "too short" means a
    /// different NOTIFICATION depending on what is being read.
    pub(crate) fn take(&mut self, n: usize, short: ErrorKind) -> Result<&'a [u8], DecodeError> {
        if self.remaining() < n {
            return Err(self.error(short));
        }
        let bytes = &self.buf[self.pos..self.pos + n];
        self.pos += n;
        Ok(bytes)
    }

    /// A sub-reader over the next `n` bytes, which this reader skips.
    pub(crate) fn sub(&mut self, n: usize, short: ErrorKind) -> Result<Reader<'a>, DecodeError> {
        let base = self.offset();
        let buf = self.take(n, short)?;
        Ok(Reader { buf, pos: 0, base })
    }

    /// Everything not yet read.
    pub(crate) fn rest(&mut self) -> &'a [u8] {
        let bytes = &self.buf[self.pos..];
        self.pos = self.buf.len();
        bytes
    }

    pub(crate) fn array<const N: usize>(&mut self, short: ErrorKind) -> Result<[u8; N], DecodeError> {
        let bytes = self.take(N, short)?;
        let mut out = [0; N];
        out.copy_from_slice(bytes);
        Ok(out)
    }

    pub(crate) fn u8(&mut self, short: ErrorKind) -> Result<u8, DecodeError> {
        Ok(self.array::<1>(short)?[0])
    }

    pub(crate) fn u16(&mut self, short: ErrorKind) -> Result<u16, DecodeError> {
        Ok(u16::from_be_bytes(self.array(short)?))
    }

    pub(crate) fn u24(&mut self, short: ErrorKind) -> Result<u32, DecodeError> {
        let [a, b, c] = self.array(short)?;
        Ok(u32::from_be_bytes([0, a, b, c]))
    }

    pub(crate) fn u32(&mut self, short: ErrorKind) -> Result<u32, DecodeError> {
        Ok(u32::from_be_bytes(self.array(short)?))
    }
}

/// Writes a length-prefixed section: reserves the length field, and
/// `finish` patches in the number of bytes written after it.
pub(crate) struct LengthPrefix {
    at: usize,
    width: usize,
}

impl LengthPrefix {
    /// Reserves a 1- or 2-byte length field at the end of `out`.
    pub(crate) fn start(out: &mut Vec<u8>, width: usize) -> Self {
        debug_assert!(width == 1 || width == 2);
        let at = out.len();
        out.resize(at + width, 0);
        Self { at, width }
    }

    /// Patches the length, or fails if the section outgrew its field.
    pub(crate) fn finish(self, out: &mut [u8], what: &'static str) -> Result<(), EncodeError> {
        let len = out.len() - self.at - self.width;
        let too_long = || EncodeError::TooLong { what, len };
        if self.width == 1 {
            out[self.at] = u8::try_from(len).map_err(|_| too_long())?;
        } else {
            let len = u16::try_from(len).map_err(|_| too_long())?;
            out[self.at..self.at + 2].copy_from_slice(&len.to_be_bytes());
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::Reader;
    use crate::error::ErrorKind;

    #[test]
    fn sub_readers_report_absolute_offsets() {
        let bytes = [0, 1, 2, 3, 4, 5];
        let mut reader = Reader::new(&bytes);
        reader.take(2, ErrorKind::Truncated).expect("two bytes");
        let mut sub = reader.sub(3, ErrorKind::Truncated).expect("three bytes");
        assert_eq!(sub.offset(), 2);
        assert_eq!(sub.u16(ErrorKind::Truncated).expect("u16"), 0x0203);
        let error = sub.u16(ErrorKind::Truncated).expect_err("only one byte left");
        assert_eq!(error.offset, 4);
        assert_eq!(reader.offset(), 5);
    }
}
