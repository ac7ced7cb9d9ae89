//! The marker region: how the oracle learns, from a disk state alone, which appends had been
//! issued and which had returned when the power was cut.
//!
//! Why on the same disk: a mark must be ordered with the filesystem's writes in the one block
//! log, so that every prefix (and every subset) of the log says what the writer knew at that
//! point. The guest writes each mark as one sector past the end of the filesystem, with
//! O_DIRECT and O_DSYNC: the write is logged, then flushed, before the workload goes on. An
//! *issued* mark is written before an append is called (so a frame of it can only appear in a
//! later epoch), an *acknowledged* mark after it returned (its data was flushed earlier).
//!
//! A mark sector: `PMBRMARK`, then kind (1 issued, 2 acknowledged), the append's ordinal (from
//! 0), its first and last seq, each a u64 little-endian; the rest zero. Mark `i` is at byte
//! `region + 512 * i`. A zero sector is no mark; anything else that is not a mark is an error.

use anyhow::{bail, Result};

use super::logwrites::ReadAt;

pub const MAGIC: &[u8; 8] = b"PMBRMARK";
pub const SECTOR: u64 = 512;
/// The region's size: room for 2048 marks (the standard workload writes 18).
pub const REGION_BYTES: u64 = 1 << 20;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Issued,
    Acked,
}

/// One mark.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Mark {
    pub kind: Kind,
    pub ordinal: u64,
    pub first: u64,
    pub last: u64,
}

impl Mark {
    pub fn encode(&self) -> [u8; SECTOR as usize] {
        let mut s = [0u8; SECTOR as usize];
        s[0..8].copy_from_slice(MAGIC);
        let kind: u64 = match self.kind {
            Kind::Issued => 1,
            Kind::Acked => 2,
        };
        for (i, v) in [kind, self.ordinal, self.first, self.last]
            .iter()
            .enumerate()
        {
            s[8 + 8 * i..16 + 8 * i].copy_from_slice(&v.to_le_bytes());
        }
        s
    }

    pub fn decode(s: &[u8]) -> Result<Option<Mark>> {
        if s.iter().all(|&b| b == 0) {
            return Ok(None);
        }
        if s.len() < 40 || &s[0..8] != MAGIC {
            bail!("a sector of the marker region is neither zero nor a mark");
        }
        let f = |i: usize| {
            let mut w = [0u8; 8];
            w.copy_from_slice(&s[8 + 8 * i..16 + 8 * i]);
            u64::from_le_bytes(w)
        };
        let kind = match f(0) {
            1 => Kind::Issued,
            2 => Kind::Acked,
            k => bail!("a mark of unknown kind {k}"),
        };
        Ok(Some(Mark {
            kind,
            ordinal: f(1),
            first: f(2),
            last: f(3),
        }))
    }
}

/// What the marks on a disk state say.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Known {
    /// The ordinal of the last append issued, if any.
    pub issued: Option<u64>,
    /// Every seq up to this one had been acknowledged.
    pub acked: u64,
}

/// Reads the marker region at byte `region` of a disk image.
pub fn read<R: ReadAt + ?Sized>(img: &R, region: u64) -> Result<Known> {
    let mut buf = vec![0u8; REGION_BYTES as usize];
    img.read_exact_at_off(&mut buf, region)?;
    let mut k = Known::default();
    for s in buf.chunks(SECTOR as usize) {
        match Mark::decode(s)? {
            None => {}
            Some(m) if m.kind == Kind::Issued => {
                k.issued = Some(k.issued.map_or(m.ordinal, |o| o.max(m.ordinal)));
            }
            Some(m) => k.acked = k.acked.max(m.last),
        }
    }
    Ok(k)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn marks_read_back_and_the_latest_wins() {
        let mut img = vec![0u8; 4096 + REGION_BYTES as usize];
        let marks = [
            Mark {
                kind: Kind::Issued,
                ordinal: 0,
                first: 1,
                last: 1,
            },
            Mark {
                kind: Kind::Acked,
                ordinal: 0,
                first: 1,
                last: 1,
            },
            Mark {
                kind: Kind::Issued,
                ordinal: 1,
                first: 2,
                last: 4,
            },
        ];
        for (i, m) in marks.iter().enumerate() {
            let at = 4096 + i * 512;
            img[at..at + 512].copy_from_slice(&m.encode());
        }
        let k = read(img.as_slice(), 4096).unwrap();
        assert_eq!(
            k,
            Known {
                issued: Some(1),
                acked: 1
            }
        );
        assert_eq!(
            read(vec![0u8; REGION_BYTES as usize].as_slice(), 0).unwrap(),
            Known::default()
        );
    }

    #[test]
    fn a_damaged_marker_region_is_an_error_not_a_guess() {
        let mut img = vec![0u8; REGION_BYTES as usize];
        img[700] = 1;
        assert!(read(img.as_slice(), 0).is_err());
    }
}
