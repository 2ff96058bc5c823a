//! Reading logs back the ways clients ask: the last lines or bytes (tails), and Supervisor's
//! `readFile` and `tailFile` arithmetic (`supervisor/options.py`), which its XML-RPC clients
//! depend on to page through a log. Every read is a `pread` of a file controld already holds
//! (or opened without following links), up to a size taken when the read was asked for.

use proctor_api::control::Back;
use std::fs::File;
use std::io;
use std::os::unix::fs::FileExt;

/// The most one read returns: a client reading on from the offset it was given gets the rest.
/// (Supervisor reads whatever is asked, a whole log file into memory.)
pub const MAX_READ: u64 = 4 * 1024 * 1024;

/// `len` bytes from `start` (fewer at the end of the file), at most [`MAX_READ`].
pub fn range(f: &File, start: u64, len: u64) -> io::Result<Vec<u8>> {
    let len = len.min(MAX_READ);
    let mut buf = vec![0u8; usize::try_from(len).unwrap_or(0)];
    let mut got = 0;
    while got < buf.len() {
        match f.read_at(&mut buf[got..], start + got as u64) {
            Ok(0) => break,
            Ok(n) => got += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    buf.truncate(got);
    Ok(buf)
}

/// The end of a file of `size` bytes: the last lines, or the last bytes.
pub fn last(f: &File, back: Back, size: u64) -> io::Result<Vec<u8>> {
    match back {
        Back::Bytes(n) => range(f, size.saturating_sub(u64::from(n)), u64::from(n)),
        Back::Lines(n) => last_lines(f, n, size),
    }
}

/// The last `n` lines of a file of `size` bytes, from its last [`MAX_READ`] bytes.
fn last_lines(f: &File, n: u32, size: u64) -> io::Result<Vec<u8>> {
    if n == 0 {
        return Ok(Vec::new());
    }
    let start = size.saturating_sub(MAX_READ);
    let mut buf = range(f, start, size - start)?;
    // Skip a final newline, then find the n-th newline from the end.
    let body_end = buf.len() - usize::from(buf.last() == Some(&b'\n'));
    let cut = buf[..body_end]
        .iter()
        .enumerate()
        .rev()
        .filter(|(_, b)| **b == b'\n')
        .nth(n as usize - 1)
        .map_or(0, |(i, _)| i + 1);
    Ok(buf.split_off(cut))
}

/// Supervisor's `readFile(offset, length)`: a negative `offset` reads the last `-offset` bytes
/// (and then `length` must be 0); otherwise `length` bytes from `offset`, or everything from it
/// when `length` is 0. A negative `length` is refused.
pub fn read_file(f: &File, size: u64, offset: i64, length: i64) -> Result<Vec<u8>, ReadError> {
    if offset < 0 {
        if length != 0 {
            return Err(ReadError::BadArguments);
        }
        let back = offset.unsigned_abs();
        return Ok(range(f, size.saturating_sub(back), back)?);
    }
    let Ok(length) = u64::try_from(length) else {
        return Err(ReadError::BadArguments);
    };
    let start = offset.unsigned_abs();
    let len = match length {
        0 => size.saturating_sub(start),
        n => n,
    };
    Ok(range(f, start, len)?)
}

/// Why a read failed: Supervisor's BAD_ARGUMENTS, or its FAILED.
#[derive(Debug)]
pub enum ReadError {
    BadArguments,
    Io(io::Error),
}

impl From<io::Error> for ReadError {
    fn from(e: io::Error) -> ReadError {
        ReadError::Io(e)
    }
}

/// Supervisor's `tailFile(offset, length)`: up to `length` bytes ending at the file's end and
/// starting no earlier than `offset`; the offset to ask from next (the size); and whether the
/// file had grown past `offset + length` (then the read is simply the last `length` bytes).
/// Its arithmetic is kept exactly: clients page with it.
pub fn tail_file(
    f: &File,
    size: u64,
    offset: i64,
    length: i64,
) -> io::Result<(Vec<u8>, u64, bool)> {
    // Python's integers: no overflow whatever the client sends.
    let sz = i128::from(size);
    let (mut offset, mut length) = (i128::from(offset), i128::from(length));
    let mut overflow = false;
    if sz > offset + length {
        overflow = true;
        offset = sz - 1;
    }
    if offset + length > sz {
        if offset > sz - 1 {
            length = 0;
        }
        offset = sz - length;
    }
    offset = offset.max(0);
    length = length.max(0);
    let data = match length {
        0 => Vec::new(),
        n => range(
            f,
            u64::try_from(offset).unwrap_or(u64::MAX),
            u64::try_from(n).unwrap_or(u64::MAX),
        )?,
    };
    Ok((data, size, overflow))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use std::io::Write;

    fn file(text: &[u8]) -> (tempfile::NamedTempFile, File) {
        let mut t = tempfile::NamedTempFile::new().unwrap();
        t.write_all(text).unwrap();
        let f = t.reopen().unwrap();
        (t, f)
    }

    #[test]
    fn read_file_is_supervisors() {
        let (_t, f) = file(b"0123456789");
        assert_eq!(read_file(&f, 10, -3, 0).unwrap(), b"789");
        assert_eq!(read_file(&f, 10, -30, 0).unwrap(), b"0123456789");
        assert_eq!(read_file(&f, 10, 2, 3).unwrap(), b"234");
        assert_eq!(read_file(&f, 10, 7, 0).unwrap(), b"789");
        assert_eq!(read_file(&f, 10, 70, 0).unwrap(), b"");
        assert!(matches!(
            read_file(&f, 10, -3, 1),
            Err(ReadError::BadArguments)
        ));
        assert!(matches!(
            read_file(&f, 10, 0, -1),
            Err(ReadError::BadArguments)
        ));
    }

    #[test]
    fn tail_file_is_supervisors() {
        let (_t, f) = file(b"0123456789");
        // The client's first call: offset 0, length 4 → the last 4 bytes, overflow.
        assert_eq!(
            tail_file(&f, 10, 0, 4).unwrap(),
            (b"6789".to_vec(), 10, true)
        );
        // Caught up: nothing new.
        assert_eq!(tail_file(&f, 10, 10, 4).unwrap(), (Vec::new(), 10, false));
        assert_eq!(
            tail_file(&f, 10, 8, 4).unwrap(),
            (b"6789".to_vec(), 10, false)
        );
        assert_eq!(
            tail_file(&f, 10, 0, 100).unwrap(),
            (b"0123456789".to_vec(), 10, false)
        );
        assert_eq!(tail_file(&f, 10, -5, -5).unwrap(), (Vec::new(), 10, true));
        assert_eq!(
            tail_file(&f, 10, i64::MAX, i64::MAX).unwrap(),
            (Vec::new(), 10, false)
        );
    }

    #[test]
    fn last_lines_and_bytes() {
        let (_t, f) = file(b"a\nb\nc\n");
        assert_eq!(last(&f, Back::Lines(2), 6).unwrap(), b"b\nc\n");
        assert_eq!(last(&f, Back::Lines(9), 6).unwrap(), b"a\nb\nc\n");
        assert_eq!(last(&f, Back::Lines(0), 6).unwrap(), b"");
        assert_eq!(last(&f, Back::Bytes(3), 6).unwrap(), b"\nc\n");
        // Up to the size taken when asked, not what was written since.
        assert_eq!(last(&f, Back::Lines(1), 4).unwrap(), b"b\n");
    }
}
