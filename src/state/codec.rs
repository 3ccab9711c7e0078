//! The binary encoding of checkpoints: LEB128 varints (zigzag for signed values),
//! length-prefixed byte strings, and counter cells as runs of zeros and values.
//!
//! The checkpoint file carries a checksum ([`super::file`]), so a [`Reader`] meets corrupt
//! bytes only in a file that was written wrong; it still never panics on them: every read
//! is bounds-checked and every length is checked against what the layout allows.

/// Appends values to a growing buffer.
#[derive(Default)]
pub struct Writer {
    pub buf: Vec<u8>,
}

impl Writer {
    #[inline]
    pub fn u64(&mut self, mut v: u64) {
        while v >= 0x80 {
            self.buf.push(v as u8 | 0x80);
            v >>= 7;
        }
        self.buf.push(v as u8);
    }

    #[inline]
    pub fn i64(&mut self, v: i64) {
        self.u64(((v << 1) ^ (v >> 63)) as u64);
    }

    pub fn bytes(&mut self, b: &[u8]) {
        self.u64(b.len() as u64);
        self.buf.extend_from_slice(b);
    }

    pub fn str(&mut self, s: &str) {
        self.bytes(s.as_bytes());
    }

    /// Counter cells, mostly zero: alternating runs of zeros and of values, each run
    /// prefixed by its length, so that an idle ring costs a few bytes.
    pub fn cells(&mut self, cells: &[u32]) {
        self.u64(cells.len() as u64);
        let mut i = 0;
        while i < cells.len() {
            let zeros = cells[i..].iter().take_while(|&&c| c == 0).count();
            i += zeros;
            let values = cells[i..].iter().take_while(|&&c| c != 0).count();
            self.u64(zeros as u64);
            self.u64(values as u64);
            for &c in &cells[i..i + values] {
                self.u64(u64::from(c));
            }
            i += values;
        }
    }
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum CodecError {
    #[error("ends early, at byte {0}")]
    Truncated(usize),
    #[error("{what} is out of range at byte {at}")]
    Invalid { what: &'static str, at: usize },
}

/// Reads what a [`Writer`] wrote.
pub struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    pub fn new(buf: &'a [u8]) -> Reader<'a> {
        Reader { buf, pos: 0 }
    }

    pub fn is_empty(&self) -> bool {
        self.pos == self.buf.len()
    }

    pub fn invalid(&self, what: &'static str) -> CodecError {
        CodecError::Invalid { what, at: self.pos }
    }

    pub fn u64(&mut self) -> Result<u64, CodecError> {
        let mut v = 0u64;
        for shift in (0..64).step_by(7) {
            let &b = self
                .buf
                .get(self.pos)
                .ok_or(CodecError::Truncated(self.pos))?;
            self.pos += 1;
            v |= u64::from(b & 0x7f) << shift;
            if b < 0x80 {
                return Ok(v);
            }
        }
        Err(self.invalid("a varint"))
    }

    pub fn i64(&mut self) -> Result<i64, CodecError> {
        let v = self.u64()?;
        Ok((v >> 1) as i64 ^ -((v & 1) as i64))
    }

    /// A value that must fit `T` (a count, a slot, a partition).
    pub fn small<T: TryFrom<u64>>(&mut self, what: &'static str) -> Result<T, CodecError> {
        let v = self.u64()?;
        T::try_from(v).map_err(|_| self.invalid(what))
    }

    /// A length, at most `max`.
    pub fn len(&mut self, max: usize, what: &'static str) -> Result<usize, CodecError> {
        let n = self.u64()?;
        if n > max as u64 {
            return Err(self.invalid(what));
        }
        Ok(n as usize)
    }

    pub fn bytes(&mut self) -> Result<&'a [u8], CodecError> {
        let n = self.len(self.buf.len() - self.pos, "a byte string's length")?;
        self.take(n)
    }

    /// The next `n` bytes, unparsed.
    pub fn take(&mut self, n: usize) -> Result<&'a [u8], CodecError> {
        if n > self.buf.len() - self.pos {
            return Err(CodecError::Truncated(self.buf.len()));
        }
        let out = &self.buf[self.pos..self.pos + n];
        self.pos += n;
        Ok(out)
    }

    pub fn str(&mut self) -> Result<&'a str, CodecError> {
        let at = self.pos;
        let bytes = self.bytes()?;
        std::str::from_utf8(bytes).map_err(|_| CodecError::Invalid {
            what: "a string",
            at,
        })
    }

    /// Cells written by [`Writer::cells`]; there must be exactly `out.len()` of them.
    pub fn cells(&mut self, out: &mut [u32]) -> Result<(), CodecError> {
        if self.u64()? != out.len() as u64 {
            return Err(self.invalid("the number of counter cells"));
        }
        let mut i = 0;
        while i < out.len() {
            let zeros = self.len(out.len() - i, "a run of zero cells")?;
            out[i..i + zeros].fill(0);
            i += zeros;
            let values = self.len(out.len() - i, "a run of cells")?;
            for cell in &mut out[i..i + values] {
                *cell = self.small("a counter cell")?;
            }
            i += values;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_round_trip() {
        let mut w = Writer::default();
        let ints = [0, 1, -1, 63, -64, i64::MAX, i64::MIN, 1 << 40];
        ints.iter().for_each(|&v| w.i64(v));
        w.u64(u64::MAX);
        w.str("route /päy");
        let cells = [0, 0, 7, 0, u32::MAX, 1, 0, 0];
        w.cells(&cells);
        let mut r = Reader::new(&w.buf);
        for v in ints {
            assert_eq!(r.i64(), Ok(v));
        }
        assert_eq!(r.u64(), Ok(u64::MAX));
        assert_eq!(r.str(), Ok("route /päy"));
        let mut out = [9; 8];
        r.cells(&mut out).unwrap();
        assert_eq!(out, cells);
        assert!(r.is_empty());
    }

    #[test]
    fn idle_cells_cost_a_few_bytes() {
        let mut w = Writer::default();
        w.cells(&[0; 2_000]);
        // The count (2 bytes), one run of 2,000 zeros (2), and of no values (1).
        assert_eq!(w.buf.len(), 5);
    }

    #[test]
    fn corrupt_input_is_an_error_not_a_panic() {
        let mut w = Writer::default();
        w.cells(&[1, 2, 3]);
        w.str("abc");
        let full = w.buf.clone();
        for cut in 0..full.len() {
            let mut r = Reader::new(&full[..cut]);
            let mut out = [0; 3];
            let read = r.cells(&mut out).and_then(|()| r.str().map(|_| ()));
            assert!(read.is_err(), "cut at {cut}");
        }
        let mut out = [0; 4];
        assert!(Reader::new(&full).cells(&mut out).is_err());
        assert!(Reader::new(&[0xff; 11]).u64().is_err());
    }
}
