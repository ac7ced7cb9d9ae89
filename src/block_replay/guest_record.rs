//! The first boot: the standard workload with the real WAL on the real filesystem of the
//! recorded disk, every append's issue and acknowledgement marked on the same disk.
//!
//! Why marks on the disk and not on the console: only the disk's own write order says what had
//! been acknowledged when the power was cut. A mark is one sector of the marker region
//! ([`super::marks`]) written with O_DIRECT and O_DSYNC, so it is in the block log, followed by
//! a flush, before the workload goes on.

use std::fs::{File, OpenOptions};
use std::os::unix::fs::{FileExt, OpenOptionsExt};
use std::path::Path;
use std::time::Instant;

use anyhow::{Context, Result};
use nix::mount::{mount, umount, MsFlags};

use super::console::{GuestParams, Line};
use super::guest_env::{say, MNT, WAL_DIR};
use super::marks::{self, Kind};
use crate::crash::workload::{self, Workload};

/// Writes marks into the marker region, each one sector, with O_DIRECT and O_DSYNC: it is on
/// the disk (and in the block log, followed by a flush) before the workload goes on.
struct Marker {
    dev: File,
    region: u64,
    next: u64,
    buf: Vec<u8>,
    ordinal: u64,
}

impl Marker {
    fn open(dev: &str, region: u64) -> Result<Marker> {
        let dev = OpenOptions::new()
            .read(true)
            .write(true)
            .custom_flags(nix::libc::O_DIRECT | nix::libc::O_DSYNC)
            .open(dev)
            .with_context(|| format!("opening {dev} for marks"))?;
        Ok(Marker {
            dev,
            region,
            next: 0,
            buf: vec![0u8; 2 * marks::SECTOR as usize],
            ordinal: 0,
        })
    }

    fn write(&mut self, m: marks::Mark) -> Result<()> {
        anyhow::ensure!(
            (self.next + 1) * marks::SECTOR <= marks::REGION_BYTES,
            "the marker region is full"
        );
        // O_DIRECT wants a buffer aligned to the sector.
        let at = self.buf.as_ptr().align_offset(marks::SECTOR as usize);
        let sector = &mut self.buf[at..at + marks::SECTOR as usize];
        sector.copy_from_slice(&m.encode());
        self.dev
            .write_all_at(sector, self.region + self.next * marks::SECTOR)
            .context("writing a mark")?;
        self.next += 1;
        Ok(())
    }

    fn mark(&mut self, m: wal::record::Mark) -> Result<()> {
        match m {
            wal::record::Mark::Issued(v) => {
                let (first, last) = (v.first().map_or(0, |e| e.0), v.last().map_or(0, |e| e.0));
                self.write(marks::Mark {
                    kind: Kind::Issued,
                    ordinal: self.ordinal,
                    first,
                    last,
                })
            }
            wal::record::Mark::Acked(last) => {
                let ordinal = self.ordinal;
                self.ordinal += 1;
                self.write(marks::Mark {
                    kind: Kind::Acked,
                    ordinal,
                    first: last,
                    last,
                })
            }
        }
    }
}

/// Runs the workload, marks it, unmounts.
pub fn record(p: &GuestParams) -> Result<()> {
    mount(
        Some("/dev/vda"),
        MNT,
        Some(p.fs.as_str()),
        MsFlags::empty(),
        p.mount_data(),
    )
    .with_context(|| {
        format!(
            "mounting /dev/vda ({}, options {:?}) on {MNT}",
            p.fs, p.mount_options
        )
    })?;
    std::fs::create_dir(WAL_DIR)?;
    File::open(MNT)?.sync_all()?;
    let mut marker = Marker::open("/dev/vda", p.fs_bytes)?;
    let _protocol = p.protocol.enable()?;
    let started = Instant::now();
    workload::run(
        Workload::Standard,
        p.seed,
        &wal::storage::StdStorage,
        Path::new(WAL_DIR),
        &mut |m| marker.mark(m),
    )?;
    let secs = started.elapsed().as_secs_f64();
    umount(MNT).context("unmounting the recorded filesystem")?;
    say(Line::new("recorded")
        .with("appends", marker.ordinal)
        .with("marks", marker.next)
        .with("secs", format!("{secs:.2}")));
    Ok(())
}
