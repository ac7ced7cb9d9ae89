//! A streaming frame scanner over `wal.log`, shared by recovery, `read_from` and the verifier.
//!
//! It reads the file in large positional reads into one reusable buffer, so scanning a log of any
//! size needs memory for one read window plus the largest frame (16 MiB at most), never the log.
//! It checks what can be checked of a frame in isolation (length in range, complete, checksum);
//! what a frame means relative to its neighbours and to safe_seq is the caller's business. After
//! the first damaged frame it stops: a bad length field leaves no way to find the next frame.
//! [`parallel`] is the same scan with the checking spread over every core.

use std::io;

use crate::format::{self, FrameHeader, FRAME_HEADER_LEN};
use crate::seq::Seq;
use crate::storage::StorageFile;

pub mod parallel;

const READ_CHUNK: usize = 1 << 20;

/// What is wrong with a frame, judged alone.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FrameProblem {
    /// The file ends inside the frame's header or payload.
    Truncated,
    /// The length field is out of range.
    BadLength(u32),
    /// The stored checksum does not match.
    Checksum,
}

impl std::fmt::Display for FrameProblem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            FrameProblem::Truncated => f.write_str("the frame is cut short by the end of the file"),
            FrameProblem::BadLength(n) => write!(
                f,
                "the frame's length field is {n}, outside 1..={}",
                format::MAX_PAYLOAD_LEN
            ),
            FrameProblem::Checksum => {
                f.write_str("the frame's CRC-32C does not match its contents")
            }
        }
    }
}

/// One step of a scan.
#[derive(Debug)]
pub enum Scanned<'a> {
    /// A well-formed frame.
    Frame {
        /// Byte offset of the frame in the file.
        offset: u64,
        /// Its seq.
        seq: Seq,
        /// Its payload.
        payload: &'a [u8],
    },
    /// A damaged frame; the scan ends here.
    Bad {
        /// Byte offset where the damaged frame starts.
        offset: u64,
        /// What is wrong.
        problem: FrameProblem,
        /// The seq its header claims, when the header was complete (it may be garbage).
        claimed_seq: Option<Seq>,
    },
}

/// Scans frames from an offset to the file's length at the time the scanner was made.
pub struct Scanner<'f, F: StorageFile> {
    file: &'f F,
    /// File offset of the next frame.
    pos: u64,
    /// File length when the scan began.
    end: u64,
    buf: Vec<u8>,
    /// File offset of `buf[0]`.
    buf_off: u64,
    done: bool,
    /// Set only by the `defects` feature's broken recovery.
    #[cfg(feature = "defects")]
    trust_checksums: bool,
}

impl<'f, F: StorageFile> Scanner<'f, F> {
    /// A scanner starting at `offset` and ending at the file's current length.
    pub fn new(file: &'f F, offset: u64) -> io::Result<Self> {
        Ok(Scanner::with_end(file, offset, file.len()?))
    }

    /// A scanner with a known end (no length query).
    pub fn with_end(file: &'f F, offset: u64, end: u64) -> Self {
        Scanner {
            file,
            pos: offset,
            end,
            buf: Vec::new(),
            buf_off: offset,
            done: false,
            #[cfg(feature = "defects")]
            trust_checksums: false,
        }
    }

    /// Accepts every frame whose length is in range, whatever its checksum: the defect
    /// [`crate::defects::Defect::RecoveryTrustsFrameWithoutChecksum`].
    #[cfg(feature = "defects")]
    pub(crate) fn trust_checksums(&mut self) {
        self.trust_checksums = true;
    }

    /// Offset just past the last frame returned (where the next one would start).
    pub fn position(&self) -> u64 {
        self.pos
    }

    /// Makes `n` bytes from `self.pos` available in `buf`, as far as the file has them; returns
    /// how many are available.
    fn fill(&mut self, n: usize) -> io::Result<usize> {
        let start = (self.pos - self.buf_off) as usize;
        if self.buf.len() - start >= n {
            return Ok(n);
        }
        // Slide what is left of the window to the front, then read after it.
        self.buf.drain(..start);
        self.buf_off = self.pos;
        let remaining_in_file = self.end - self.pos;
        let want = (n.max(READ_CHUNK) as u64).min(remaining_in_file) as usize;
        let mut have = self.buf.len();
        if want > have {
            self.buf.resize(want, 0);
            while have < want {
                match self
                    .file
                    .read_at(&mut self.buf[have..want], self.buf_off + have as u64)
                {
                    Ok(0) => break,
                    Ok(k) => have += k,
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                    Err(e) => {
                        self.buf.truncate(have);
                        return Err(e);
                    }
                }
            }
            self.buf.truncate(have);
        }
        Ok(have.min(n))
    }

    /// The next frame, a damaged frame (after which the scan is over), or `None` at the end.
    pub fn next_frame(&mut self) -> io::Result<Option<Scanned<'_>>> {
        if self.done || self.pos >= self.end {
            return Ok(None);
        }
        let offset = self.pos;
        if self.fill(FRAME_HEADER_LEN)? < FRAME_HEADER_LEN {
            self.done = true;
            return Ok(Some(Scanned::Bad {
                offset,
                problem: FrameProblem::Truncated,
                claimed_seq: None,
            }));
        }
        let start = (offset - self.buf_off) as usize;
        let mut hb = [0u8; FRAME_HEADER_LEN];
        hb.copy_from_slice(&self.buf[start..start + FRAME_HEADER_LEN]);
        let header = FrameHeader::decode(&hb);
        if !format::len_in_range(header.len) {
            self.done = true;
            return Ok(Some(Scanned::Bad {
                offset,
                problem: FrameProblem::BadLength(header.len),
                claimed_seq: Some(header.seq),
            }));
        }
        let total = header.frame_len() as usize;
        if self.fill(total)? < total {
            self.done = true;
            return Ok(Some(Scanned::Bad {
                offset,
                problem: FrameProblem::Truncated,
                claimed_seq: Some(header.seq),
            }));
        }
        let start = (offset - self.buf_off) as usize;
        let payload = &self.buf[start + FRAME_HEADER_LEN..start + total];
        #[cfg(feature = "defects")]
        let checked = !self.trust_checksums;
        #[cfg(not(feature = "defects"))]
        let checked = true;
        if checked && format::frame_crc(&hb, payload) != header.crc {
            self.done = true;
            return Ok(Some(Scanned::Bad {
                offset,
                problem: FrameProblem::Checksum,
                claimed_seq: Some(header.seq),
            }));
        }
        self.pos = offset + total as u64;
        Ok(Some(Scanned::Frame {
            offset,
            seq: header.seq,
            payload,
        }))
    }
}
