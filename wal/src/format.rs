//! Every byte of the on-disk format v1, in one place.
//!
//! `docs/wal-format.md` is the specification: the byte diagram, the CRC scope, the commit
//! protocol and the recovery rules. This module holds the numbers that document names (magic,
//! widths, limits, file names) and the only code that turns them into bytes and back, so the rest
//! of the crate never spells an offset or an endianness. Every integer is little-endian, whatever
//! the host: `clippy::host_endian_bytes` is denied for the crate.

use crate::seq::Seq;

/// The first five bytes of `wal.log`.
pub const MAGIC: [u8; 5] = *b"PMWAL";
/// The byte after the magic; reserved, always zero in v1.
pub const HEADER_RESERVED: u8 = 0;
/// The format version this crate writes and reads.
pub const VERSION: u16 = 1;
/// Length of the file header: magic, reserved byte, version.
pub const FILE_HEADER_LEN: u64 = 8;

/// Length of a frame header: crc (u32), len (u32), seq (u64).
pub const FRAME_HEADER_LEN: usize = 16;
/// Smallest payload: one JSON value is at least one byte.
pub const MIN_PAYLOAD_LEN: u32 = 1;
/// Largest payload: 16 MiB.
pub const MAX_PAYLOAD_LEN: u32 = 16 * 1024 * 1024;
/// The checksum covers the frame from this byte (the `len` field) to the end of the payload.
pub const CRC_START: usize = 4;

/// File names inside a WAL directory.
pub const LOG_FILE: &str = "wal.log";
/// The committed high-water mark, replaced by atomic rename.
pub const SAFE_SEQ_FILE: &str = "telemetry.safe_seq";
/// Where the next safe_seq is written before it is renamed over [`SAFE_SEQ_FILE`].
pub const SAFE_SEQ_TMP_FILE: &str = "telemetry.safe_seq.tmp";
/// The writer's lock file.
pub const LOCK_FILE: &str = "wal.lock";

/// Longest `telemetry.safe_seq` a reader accepts: 20 digits of a u64 plus the newline.
pub const MAX_SAFE_SEQ_FILE_LEN: usize = 21;

/// The 8-byte file header of `wal.log`.
pub fn file_header() -> [u8; FILE_HEADER_LEN as usize] {
    let mut h = [0u8; FILE_HEADER_LEN as usize];
    h[..5].copy_from_slice(&MAGIC);
    h[5] = HEADER_RESERVED;
    h[6..8].copy_from_slice(&VERSION.to_le_bytes());
    h
}

/// What is wrong with a file header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HeaderProblem {
    /// Fewer than [`FILE_HEADER_LEN`] bytes.
    Short(usize),
    /// The first five bytes are not `PMWAL`, or the reserved byte is not zero.
    BadMagic([u8; 6]),
    /// A version this crate does not read.
    Version(u16),
}

impl std::fmt::Display for HeaderProblem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            HeaderProblem::Short(n) => write!(
                f,
                "the file is {n} bytes long, shorter than the {FILE_HEADER_LEN}-byte header"
            ),
            HeaderProblem::BadMagic(m) => write!(
                f,
                "the file does not start with the magic \"PMWAL\\0\" (found {:?})",
                String::from_utf8_lossy(m)
            ),
            HeaderProblem::Version(v) => write!(
                f,
                "format version {v} is not supported (this build reads version {VERSION})"
            ),
        }
    }
}

/// Checks a file header.
pub fn check_file_header(bytes: &[u8]) -> Result<(), HeaderProblem> {
    if bytes.len() < FILE_HEADER_LEN as usize {
        return Err(HeaderProblem::Short(bytes.len()));
    }
    if bytes[..5] != MAGIC || bytes[5] != HEADER_RESERVED {
        let mut m = [0u8; 6];
        m.copy_from_slice(&bytes[..6]);
        return Err(HeaderProblem::BadMagic(m));
    }
    let version = u16::from_le_bytes([bytes[6], bytes[7]]);
    if version != VERSION {
        return Err(HeaderProblem::Version(version));
    }
    Ok(())
}

/// A decoded frame header, not yet checked against its payload.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FrameHeader {
    /// The stored CRC-32C of bytes `CRC_START..16+len`.
    pub crc: u32,
    /// Payload length in bytes.
    pub len: u32,
    /// The entry's sequence number.
    pub seq: Seq,
}

impl FrameHeader {
    /// Decodes the 16 header bytes. The length is not range-checked here: see [`len_in_range`].
    pub fn decode(b: &[u8; FRAME_HEADER_LEN]) -> FrameHeader {
        FrameHeader {
            crc: u32::from_le_bytes([b[0], b[1], b[2], b[3]]),
            len: u32::from_le_bytes([b[4], b[5], b[6], b[7]]),
            seq: Seq::new(u64::from_le_bytes([
                b[8], b[9], b[10], b[11], b[12], b[13], b[14], b[15],
            ])),
        }
    }

    /// Total bytes of the frame, header included.
    pub fn frame_len(&self) -> u64 {
        FRAME_HEADER_LEN as u64 + u64::from(self.len)
    }
}

/// Whether a payload length is one a v1 writer could have written.
pub fn len_in_range(len: u32) -> bool {
    (MIN_PAYLOAD_LEN..=MAX_PAYLOAD_LEN).contains(&len)
}

/// Whether a payload is exactly one JSON value in UTF-8: [`check_json`] without the message.
///
/// serde_json skips over the contents of strings it is told to ignore without checking their
/// UTF-8, so the bytes are checked as UTF-8 first, with SIMD (simdutf8 accepts exactly what the
/// standard library does). serde_json then walks the value into `IgnoredAny`, building nothing.
pub fn is_json(payload: &[u8]) -> bool {
    simdutf8::basic::from_utf8(payload)
        .is_ok_and(|text| serde_json::from_str::<serde::de::IgnoredAny>(text).is_ok())
}

/// Checks that a payload is exactly one JSON value in UTF-8, and says what is wrong when not.
///
/// It accepts exactly what [`is_json`] accepts; on a payload that fails, it checks again with
/// the standard library's UTF-8 check, whose error says where the bad byte is.
pub fn check_json(payload: &[u8]) -> Result<(), String> {
    if is_json(payload) {
        return Ok(());
    }
    let text = std::str::from_utf8(payload).map_err(|e| format!("not UTF-8: {e}"))?;
    serde_json::from_str::<serde::de::IgnoredAny>(text)
        .map(drop)
        .map_err(|e| format!("not one JSON value: {e}"))
}

/// The checksum of a frame: CRC-32C over the `len` and `seq` fields and the payload.
pub fn frame_crc(header: &[u8; FRAME_HEADER_LEN], payload: &[u8]) -> u32 {
    let crc = crc32c::crc32c(&header[CRC_START..]);
    crc32c::crc32c_append(crc, payload)
}

/// Appends one encoded frame to `out`.
///
/// # Panics
/// When the payload length is out of range: the writer checks it first, and writing a frame
/// whose `len` field does not say its length would corrupt the log.
pub fn encode_frame(seq: Seq, payload: &[u8], out: &mut Vec<u8>) {
    let len = u32::try_from(payload.len()).unwrap_or(0);
    assert!(len_in_range(len), "payload of {} bytes", payload.len());
    let mut h = [0u8; FRAME_HEADER_LEN];
    h[4..8].copy_from_slice(&len.to_le_bytes());
    h[8..16].copy_from_slice(&seq.get().to_le_bytes());
    let crc = frame_crc(&h, payload);
    h[0..4].copy_from_slice(&crc.to_le_bytes());
    out.extend_from_slice(&h);
    out.extend_from_slice(payload);
}

/// The contents of `telemetry.safe_seq` for a given seq: ASCII decimal and one newline.
pub fn encode_safe_seq(seq: Seq) -> Vec<u8> {
    format!("{}\n", seq.get()).into_bytes()
}

/// Parses `telemetry.safe_seq`. Anything but decimal digits followed by exactly one newline is
/// rejected: the file is only ever replaced whole by rename after an fsync, so a torn or padded
/// value means damage, not a crash window.
pub fn decode_safe_seq(bytes: &[u8]) -> Option<Seq> {
    let digits = bytes.strip_suffix(b"\n")?;
    if digits.is_empty() || digits.len() > 20 || !digits.iter().all(u8::is_ascii_digit) {
        return None;
    }
    std::str::from_utf8(digits)
        .ok()?
        .parse::<u64>()
        .ok()
        .map(Seq::new)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frame_layout_is_little_endian_whatever_the_host() {
        let mut out = Vec::new();
        encode_frame(Seq::new(0x0102_0304_0506_0708), b"{}", &mut out);
        assert_eq!(&out[4..8], &[2, 0, 0, 0]);
        assert_eq!(&out[8..16], &[8, 7, 6, 5, 4, 3, 2, 1]);
        assert_eq!(&out[16..], b"{}");
        let crc = u32::from_le_bytes(out[0..4].try_into().unwrap());
        assert_eq!(crc, crc32c::crc32c(&out[4..]));
    }

    #[test]
    fn file_header_is_magic_zero_version() {
        assert_eq!(&file_header(), b"PMWAL\0\x01\x00");
        assert_eq!(check_file_header(&file_header()), Ok(()));
        assert!(matches!(
            check_file_header(b"PMWAL\0"),
            Err(HeaderProblem::Short(6))
        ));
        assert!(matches!(
            check_file_header(b"PMWAX\0\x01\x00"),
            Err(HeaderProblem::BadMagic(_))
        ));
        assert_eq!(
            check_file_header(b"PMWAL\0\x02\x00"),
            Err(HeaderProblem::Version(2))
        );
    }

    #[test]
    fn safe_seq_text_is_strict() {
        assert_eq!(decode_safe_seq(b"5\n"), Some(Seq::new(5)));
        assert_eq!(decode_safe_seq(b"0\n"), Some(Seq::new(0)));
        assert_eq!(
            decode_safe_seq(b"18446744073709551615\n"),
            Some(Seq::new(u64::MAX))
        );
        for bad in [
            &b""[..],
            b"5",
            b"\n",
            b"-1\n",
            b" 5\n",
            b"5\n\n",
            b"abc\n",
            b"18446744073709551616\n",
        ] {
            assert_eq!(decode_safe_seq(bad), None, "{bad:?}");
        }
        assert_eq!(encode_safe_seq(Seq::new(42)), b"42\n");
    }
}
