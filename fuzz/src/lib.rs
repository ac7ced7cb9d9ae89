//! What the fuzz targets share: an arbitrary WAL directory, built in memory.
//!
//! Raw bytes rarely make a log with valid frames, so the directory is described structurally
//! (a header that is right or arbitrary, frames with chosen seqs and payloads, some damaged, an
//! arbitrary tail, a safe_seq that is a number or arbitrary bytes, maybe a stale `.tmp`) and
//! encoded with the WAL's own format code. The fuzzer still reaches every byte: any field can be
//! arbitrary bytes.

#![forbid(unsafe_code)]

use std::path::Path;

use arbitrary::Arbitrary;
use wal::format;
use wal::mem::MemStorage;
use wal::Seq;

/// The WAL directory used by every target.
pub const DIR: &str = "/w";

#[derive(Arbitrary, Debug)]
pub enum Header {
    Valid,
    Raw(Vec<u8>),
}

#[derive(Arbitrary, Debug)]
pub struct Frame {
    /// The seq written, relative to the frame's position (0 = in order).
    pub seq_skew: i8,
    pub payload: Vec<u8>,
    /// Flip the bits of one byte of the encoded frame: (offset within the frame, mask).
    pub damage: Option<(u16, u8)>,
}

#[derive(Arbitrary, Debug)]
pub enum SafeSeq {
    Absent,
    Number(u8),
    Raw(Vec<u8>),
}

#[derive(Arbitrary, Debug)]
pub struct Dir {
    pub log_missing: bool,
    pub header: Header,
    pub frames: Vec<Frame>,
    pub tail: Vec<u8>,
    pub safe_seq: SafeSeq,
    pub tmp: Option<Vec<u8>>,
}

impl Dir {
    /// The bytes of `wal.log`.
    pub fn log(&self) -> Vec<u8> {
        let mut out = match &self.header {
            Header::Valid => format::file_header().to_vec(),
            Header::Raw(b) => b.clone(),
        };
        for (i, f) in self.frames.iter().enumerate() {
            let seq = (i as i64 + 1 + i64::from(f.seq_skew)).max(0) as u64;
            let payload: &[u8] = if f.payload.is_empty() { b"0" } else { &f.payload };
            let start = out.len();
            format::encode_frame(Seq::new(seq), payload, &mut out);
            if let Some((at, mask)) = f.damage {
                let len = out.len() - start;
                out[start + usize::from(at) % len] ^= mask;
            }
        }
        out.extend_from_slice(&self.tail);
        out
    }

    /// Writes the directory into a fresh in-memory filesystem.
    pub fn build(&self) -> MemStorage {
        let m = MemStorage::new();
        let dir = Path::new(DIR);
        m.create_dir_all(dir);
        if !self.log_missing {
            m.write_file(&dir.join(format::LOG_FILE), &self.log()).unwrap();
        }
        match &self.safe_seq {
            SafeSeq::Absent => {}
            SafeSeq::Number(n) => m
                .write_file(&dir.join(format::SAFE_SEQ_FILE), &format::encode_safe_seq(Seq::new(u64::from(*n))))
                .unwrap(),
            SafeSeq::Raw(b) => m.write_file(&dir.join(format::SAFE_SEQ_FILE), b).unwrap(),
        }
        if let Some(t) = &self.tmp {
            m.write_file(&dir.join(format::SAFE_SEQ_TMP_FILE), t).unwrap();
        }
        m
    }
}
