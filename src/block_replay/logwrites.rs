//! The dm-log-writes log format, as QEMU's `blklogwrites` block driver writes it: read with
//! bounded memory, and written (for the pristine image and for tests).
//!
//! Why a module of its own: the log is the only record of what a real kernel sent to its disk,
//! and everything block replay claims rests on reading it exactly. It comes from a file a guest
//! filled, so it is read as hostile input: every count and length is checked against the file's
//! own size before anything is allocated or seeked, and a damaged log is an error that says
//! where, never a panic.
//!
//! The layout (all integers little-endian; `S` is the superblock's sector size, 512 by
//! default): sector 0 holds the superblock {magic u64, version u64, nr_entries u64, sector size
//! u32}; entries follow from sector 1, each one sector {sector u64, nr_sectors u64, flags u64,
//! data_len u64} and, for a write, its data in the next `nr_sectors` sectors. A write's target
//! is byte `sector * S` of the disk. Flags: FLUSH 1, FUA 2, DISCARD 4, MARK 8. A discard has
//! no data in the log; a mark carries at most a short string inside its own sector. QEMU writes
//! plain writes, flushes and discards, and rewrites the superblock at each flush.

use std::fs::File;
use std::io;
use std::os::unix::fs::FileExt;

/// The superblock's magic number.
pub const MAGIC: u64 = 0x006a_7366_7773_6872;
/// The only version there is.
pub const VERSION: u64 = 1;
/// The entry was a flush (REQ_PREFLUSH): everything completed before it is durable.
pub const FLAG_FLUSH: u64 = 1;
/// The write was forced unit access: durable when it completed.
pub const FLAG_FUA: u64 = 2;
/// The entry discards `nr_sectors` sectors (no data in the log).
pub const FLAG_DISCARD: u64 = 4;
/// A mark (a label written into the log by the recorder; no disk effect).
pub const FLAG_MARK: u64 = 8;
/// The smallest and largest sector sizes accepted.
pub const MIN_SECTOR: u32 = 512;
pub const MAX_SECTOR: u32 = 64 * 1024;
/// At most this many entries are read: each costs one small record in memory.
pub const MAX_ENTRIES: u64 = 1 << 20;
/// A single write larger than this is refused (its data is read into memory whole).
pub const MAX_WRITE_BYTES: u64 = 64 << 20;

/// What is wrong with a log.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum LogError {
    #[error("the log is {len} bytes, shorter than its superblock (a log that was never written?)")]
    NoSuperblock { len: u64 },
    #[error("bad magic {found:#x} (expected {MAGIC:#x}): not a dm-log-writes log")]
    BadMagic { found: u64 },
    #[error("log version {found} (only version {VERSION} is known)")]
    BadVersion { found: u64 },
    #[error("sector size {found} is not a power of two between {MIN_SECTOR} and {MAX_SECTOR}")]
    BadSectorSize { found: u32 },
    #[error(
        "the superblock claims {claimed} entries but the log has room for at most {room} \
         (cap {MAX_ENTRIES}): truncated or damaged"
    )]
    TooManyEntries { claimed: u64, room: u64 },
    #[error("entry {index} at byte {offset}: {reason}")]
    BadEntry {
        index: u64,
        offset: u64,
        reason: String,
    },
    #[error("reading the log at byte {offset}: {source}")]
    Io { offset: u64, source: io::Error },
}

/// A byte source read at offsets: a file, or bytes in memory (tests).
pub trait ReadAt {
    fn len_bytes(&self) -> io::Result<u64>;
    fn read_exact_at_off(&self, buf: &mut [u8], offset: u64) -> io::Result<()>;
}

impl ReadAt for File {
    fn len_bytes(&self) -> io::Result<u64> {
        // A block device reports 0 in its metadata; seek to its end instead.
        let m = self.metadata()?;
        if m.len() > 0 || m.is_file() {
            return Ok(m.len());
        }
        use std::io::Seek;
        let mut f = self;
        let end = f.seek(io::SeekFrom::End(0))?;
        f.seek(io::SeekFrom::Start(0))?;
        Ok(end)
    }
    fn read_exact_at_off(&self, buf: &mut [u8], offset: u64) -> io::Result<()> {
        self.read_exact_at(buf, offset)
    }
}

impl ReadAt for [u8] {
    fn len_bytes(&self) -> io::Result<u64> {
        Ok(self.len() as u64)
    }
    fn read_exact_at_off(&self, buf: &mut [u8], offset: u64) -> io::Result<()> {
        let start = usize::try_from(offset).map_err(|_| io::ErrorKind::UnexpectedEof)?;
        let end = start
            .checked_add(buf.len())
            .filter(|&e| e <= self.len())
            .ok_or(io::ErrorKind::UnexpectedEof)?;
        buf.copy_from_slice(&self[start..end]);
        Ok(())
    }
}

/// One logged request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Entry {
    /// Its position in the log, from 0.
    pub index: u64,
    /// The first disk sector it touches (in units of the log's sector size).
    pub sector: u64,
    pub nr_sectors: u64,
    pub flags: u64,
    pub data_len: u64,
    /// Where its data starts in the log (for a write).
    pub data_offset: u64,
}

impl Entry {
    pub fn is_flush(&self) -> bool {
        self.flags & FLAG_FLUSH != 0
    }
    pub fn is_fua(&self) -> bool {
        self.flags & FLAG_FUA != 0
    }
    pub fn is_discard(&self) -> bool {
        self.flags & FLAG_DISCARD != 0
    }
    pub fn is_mark(&self) -> bool {
        self.flags & FLAG_MARK != 0
    }
    /// Whether it changes the disk: a write with data, or a discard.
    pub fn changes_disk(&self) -> bool {
        self.nr_sectors > 0 && !self.is_mark()
    }
}

/// A parsed log: its sector size and every entry's header; data is read on demand.
#[derive(Debug, Clone)]
pub struct Log {
    pub sector_size: u32,
    pub entries: Vec<Entry>,
}

fn u64_at(b: &[u8], at: usize) -> u64 {
    let mut w = [0u8; 8];
    w.copy_from_slice(&b[at..at + 8]);
    u64::from_le_bytes(w)
}

impl Log {
    /// Reads the superblock and every entry header, checking each against the log's size.
    pub fn parse<R: ReadAt + ?Sized>(src: &R) -> Result<Log, LogError> {
        let io_err = |offset| move |source| LogError::Io { offset, source };
        let len = src.len_bytes().map_err(io_err(0))?;
        if len < 28 {
            return Err(LogError::NoSuperblock { len });
        }
        let mut sb = [0u8; 28];
        src.read_exact_at_off(&mut sb, 0).map_err(io_err(0))?;
        let magic = u64_at(&sb, 0);
        if magic != MAGIC {
            return Err(LogError::BadMagic { found: magic });
        }
        let version = u64_at(&sb, 8);
        if version != VERSION {
            return Err(LogError::BadVersion { found: version });
        }
        let claimed = u64_at(&sb, 16);
        let sector_size = u32::from_le_bytes([sb[24], sb[25], sb[26], sb[27]]);
        if !sector_size.is_power_of_two() || !(MIN_SECTOR..=MAX_SECTOR).contains(&sector_size) {
            return Err(LogError::BadSectorSize { found: sector_size });
        }
        let ss = u64::from(sector_size);
        let room = (len / ss).saturating_sub(1).min(MAX_ENTRIES);
        if claimed > room {
            return Err(LogError::TooManyEntries { claimed, room });
        }
        let mut entries = Vec::with_capacity(claimed as usize);
        let mut pos = ss;
        let mut hdr = [0u8; 32];
        for index in 0..claimed {
            let bad = |reason: String| LogError::BadEntry {
                index,
                offset: pos,
                reason,
            };
            if pos.checked_add(ss).is_none_or(|e| e > len) {
                return Err(bad(format!(
                    "the log ends at byte {len}, inside this entry"
                )));
            }
            src.read_exact_at_off(&mut hdr, pos).map_err(io_err(pos))?;
            let e = Entry {
                index,
                sector: u64_at(&hdr, 0),
                nr_sectors: u64_at(&hdr, 8),
                flags: u64_at(&hdr, 16),
                data_len: u64_at(&hdr, 24),
                data_offset: pos + ss,
            };
            let data_bytes = if e.is_discard() || e.is_mark() {
                0
            } else {
                e.nr_sectors
                    .checked_mul(ss)
                    .filter(|&b| b <= MAX_WRITE_BYTES)
                    .ok_or_else(|| {
                        bad(format!(
                            "a write of {} sectors (more than {MAX_WRITE_BYTES} bytes)",
                            e.nr_sectors
                        ))
                    })?
            };
            if e.sector
                .checked_add(e.nr_sectors)
                .is_none_or(|end| end.checked_mul(ss).is_none())
            {
                return Err(bad(format!(
                    "sector {} + {} overflows the disk's address space",
                    e.sector, e.nr_sectors
                )));
            }
            let next = e.data_offset + data_bytes;
            if next > len {
                return Err(bad(format!(
                    "its {data_bytes} bytes of data run past the end of the log ({len} bytes)"
                )));
            }
            entries.push(e);
            pos = next;
        }
        Ok(Log {
            sector_size,
            entries,
        })
    }

    /// The data of a write entry.
    pub fn data<R: ReadAt + ?Sized>(&self, src: &R, e: &Entry) -> Result<Vec<u8>, LogError> {
        let len = (e.nr_sectors * u64::from(self.sector_size)) as usize;
        let mut buf = vec![0u8; len];
        src.read_exact_at_off(&mut buf, e.data_offset)
            .map_err(|source| LogError::Io {
                offset: e.data_offset,
                source,
            })?;
        Ok(buf)
    }

    /// The byte offset on the disk an entry starts at.
    pub fn disk_offset(&self, e: &Entry) -> u64 {
        e.sector * u64::from(self.sector_size)
    }

    /// How many flushes the log holds.
    pub fn flushes(&self) -> usize {
        self.entries.iter().filter(|e| e.is_flush()).count()
    }
}

/// Writes a log in memory: the pristine image as writes, and hand-made logs for tests.
pub struct LogWriter {
    sector_size: u32,
    entries: u64,
    buf: Vec<u8>,
}

impl LogWriter {
    pub fn new(sector_size: u32) -> LogWriter {
        LogWriter {
            sector_size,
            entries: 0,
            buf: vec![0u8; sector_size as usize],
        }
    }

    fn header(&mut self, sector: u64, nr_sectors: u64, flags: u64) {
        let mut s = vec![0u8; self.sector_size as usize];
        s[0..8].copy_from_slice(&sector.to_le_bytes());
        s[8..16].copy_from_slice(&nr_sectors.to_le_bytes());
        s[16..24].copy_from_slice(&flags.to_le_bytes());
        self.buf.extend_from_slice(&s);
        self.entries += 1;
    }

    /// A write of `data` (a whole number of sectors) at disk sector `sector`.
    pub fn write(&mut self, sector: u64, data: &[u8]) {
        let ss = self.sector_size as usize;
        assert!(
            data.len().is_multiple_of(ss),
            "log writes are whole sectors"
        );
        self.header(sector, (data.len() / ss) as u64, 0);
        self.buf.extend_from_slice(data);
    }

    pub fn flush(&mut self) {
        self.header(0, 0, FLAG_FLUSH);
    }

    #[cfg(test)]
    pub fn discard(&mut self, sector: u64, nr_sectors: u64) {
        self.header(sector, nr_sectors, FLAG_DISCARD);
    }

    /// The finished log.
    pub fn finish(mut self) -> Vec<u8> {
        self.buf[0..8].copy_from_slice(&MAGIC.to_le_bytes());
        self.buf[8..16].copy_from_slice(&VERSION.to_le_bytes());
        self.buf[16..24].copy_from_slice(&self.entries.to_le_bytes());
        self.buf[24..28].copy_from_slice(&self.sector_size.to_le_bytes());
        self.buf
    }
}

/// A log of the non-zero blocks of an image: how a pristine image travels to the guest
/// (a few megabytes instead of a mostly empty disk). Blocks are `block` bytes (a multiple of
/// the sector size); runs of non-zero blocks become one write of at most 1 MiB.
pub fn image_as_log<R: ReadAt + ?Sized>(img: &R, sector_size: u32) -> io::Result<Vec<u8>> {
    const BLOCK: u64 = 4096;
    const RUN: usize = 1 << 20;
    let len = img.len_bytes()?;
    let mut w = LogWriter::new(sector_size);
    let mut run: Vec<u8> = Vec::new();
    let mut run_start = 0u64;
    let mut block = vec![0u8; BLOCK as usize];
    let mut off = 0u64;
    while off < len {
        let n = BLOCK.min(len - off) as usize;
        img.read_exact_at_off(&mut block[..n], off)?;
        let nonzero = block[..n].iter().any(|&b| b != 0);
        if nonzero && run.is_empty() {
            run_start = off;
        }
        if nonzero {
            run.extend_from_slice(&block[..n]);
        }
        if (!nonzero || run.len() >= RUN) && !run.is_empty() {
            pad_sectors(&mut run, sector_size);
            w.write(run_start / u64::from(sector_size), &run);
            run.clear();
        }
        off += n as u64;
    }
    if !run.is_empty() {
        pad_sectors(&mut run, sector_size);
        w.write(run_start / u64::from(sector_size), &run);
    }
    w.flush();
    Ok(w.finish())
}

fn pad_sectors(v: &mut Vec<u8>, ss: u32) {
    let ss = ss as usize;
    v.resize(v.len().div_ceil(ss) * ss, 0);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Vec<u8> {
        let mut w = LogWriter::new(512);
        w.write(8, &[1u8; 1024]);
        w.flush();
        w.write(2, &[2u8; 512]);
        w.discard(100, 16);
        w.write(3, &[3u8; 512]);
        w.finish()
    }

    #[test]
    fn a_hand_made_log_reads_back_entry_by_entry() {
        let bytes = sample();
        let log = Log::parse(bytes.as_slice()).unwrap();
        assert_eq!(log.sector_size, 512);
        assert_eq!(log.entries.len(), 5);
        assert_eq!(log.flushes(), 1);
        let e = log.entries[0];
        assert_eq!((e.sector, e.nr_sectors, e.flags), (8, 2, 0));
        assert_eq!(log.data(bytes.as_slice(), &e).unwrap(), vec![1u8; 1024]);
        assert!(log.entries[1].is_flush() && !log.entries[1].changes_disk());
        assert!(log.entries[3].is_discard() && log.entries[3].changes_disk());
        // A discard carries no data: the next write's data is right after its header.
        assert_eq!(
            log.data(bytes.as_slice(), &log.entries[4]).unwrap(),
            vec![3u8; 512]
        );
        assert_eq!(log.disk_offset(&log.entries[4]), 3 * 512);
    }

    #[test]
    fn wrong_magic_is_not_a_log() {
        let mut b = sample();
        b[0] ^= 1;
        assert!(matches!(
            Log::parse(b.as_slice()),
            Err(LogError::BadMagic { .. })
        ));
    }

    #[test]
    fn a_log_shorter_than_its_superblock_says_so() {
        let e = Log::parse([0u8; 10].as_slice()).unwrap_err();
        assert!(e.to_string().contains("shorter than its superblock"), "{e}");
    }

    #[test]
    fn an_unknown_version_or_sector_size_is_refused() {
        let mut b = sample();
        b[8] = 2;
        assert!(matches!(
            Log::parse(b.as_slice()),
            Err(LogError::BadVersion { found: 2 })
        ));
        let mut b = sample();
        b[24..28].copy_from_slice(&100u32.to_le_bytes());
        assert!(matches!(
            Log::parse(b.as_slice()),
            Err(LogError::BadSectorSize { found: 100 })
        ));
    }

    #[test]
    fn an_absurd_entry_count_is_refused_before_allocating() {
        let mut b = sample();
        b[16..24].copy_from_slice(&u64::MAX.to_le_bytes());
        let e = Log::parse(b.as_slice()).unwrap_err();
        assert!(matches!(e, LogError::TooManyEntries { .. }), "{e}");
    }

    #[test]
    fn a_truncated_log_names_the_entry_it_ends_in() {
        let b = sample();
        for cut in [b.len() - 1, b.len() - 512, 600, 512 + 100] {
            let e = Log::parse(&b[..cut]).unwrap_err();
            assert!(
                matches!(
                    e,
                    LogError::BadEntry { .. } | LogError::TooManyEntries { .. }
                ),
                "cut {cut}: {e}"
            );
        }
    }

    #[test]
    fn an_absurd_write_length_is_refused() {
        let mut b = sample();
        // Entry 0's nr_sectors.
        b[512 + 8..512 + 16].copy_from_slice(&(u64::MAX / 2).to_le_bytes());
        let e = Log::parse(b.as_slice()).unwrap_err();
        assert!(e.to_string().contains("entry 0"), "{e}");
        let mut b = sample();
        b[512..520].copy_from_slice(&u64::MAX.to_le_bytes());
        let e = Log::parse(b.as_slice()).unwrap_err();
        assert!(e.to_string().contains("overflows"), "{e}");
    }

    #[test]
    fn arbitrary_bytes_never_panic() {
        let mut rng = crate::crash::seeded::stream(1, 0x6c6f67, 0);
        use rand::Rng;
        for n in 0..2000usize {
            let len = rng.random_range(0..4096);
            let mut b: Vec<u8> = (0..len).map(|_| rng.random()).collect();
            if n % 2 == 0 && b.len() >= 28 {
                b[0..8].copy_from_slice(&MAGIC.to_le_bytes());
                b[8..16].copy_from_slice(&VERSION.to_le_bytes());
                b[16..24].copy_from_slice(&u64::from(rng.random::<u8>()).to_le_bytes());
                b[24..28].copy_from_slice(&512u32.to_le_bytes());
            }
            if let Ok(log) = Log::parse(b.as_slice()) {
                for e in &log.entries {
                    if !e.is_discard() {
                        log.data(b.as_slice(), e).unwrap();
                    }
                }
            }
        }
    }

    #[test]
    fn an_image_travels_as_its_non_zero_blocks() {
        let mut img = vec![0u8; 64 * 1024];
        img[5000] = 7;
        img[40_000..40_100].fill(9);
        let log_bytes = image_as_log(img.as_slice(), 512).unwrap();
        let log = Log::parse(log_bytes.as_slice()).unwrap();
        let writes: Vec<_> = log.entries.iter().filter(|e| e.changes_disk()).collect();
        assert_eq!(writes.len(), 2);
        let mut back = vec![0u8; img.len()];
        for e in writes {
            let d = log.data(log_bytes.as_slice(), e).unwrap();
            let at = log.disk_offset(e) as usize;
            back[at..at + d.len()].copy_from_slice(&d);
        }
        assert_eq!(back, img);
    }
}
