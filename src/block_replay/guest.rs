//! This binary as PID 1 of a block-replay guest: bring up the little it needs, then record
//! (run the standard workload on the recorded disk) or check (every replayed state), report on
//! the console, power off.
//!
//! Why the project's own binary and not a shell script: the workload, the oracle and R1-R5 must
//! be exactly the code the rest of the matrix certifies, and run on the guest's architecture.
//! The guest has no userland but busybox (whose `losetup` sets up the loop device each state is
//! mounted from: the loop ioctls would need unsafe code here); modules are loaded with
//! finit_module. Whatever happens, the guest powers off, so a failure ends the boot instead of
//! hanging it.

use std::fs::{File, OpenOptions};
use std::os::unix::fs::{FileExt, OpenOptionsExt};
use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use nix::mount::{mount, umount, MsFlags};

use super::console::{GuestParams, Line, Mode};
use super::initramfs::{MODULE_DIR, MODULE_ORDER};
use super::marks::{self, Kind};
use crate::crash::workload::{self, Workload};

/// Where the recorded filesystem (or a state) is mounted in the guest.
pub const MNT: &str = "/mnt";
/// The WAL directory inside it.
pub const WAL_DIR: &str = "/mnt/wal";

/// Whether this process is the init of a block-replay guest.
pub fn is_guest() -> bool {
    std::process::id() == 1 && std::env::args_os().next().is_some_and(|a| a == "/init")
}

/// The guest's whole life. Never returns: the machine powers off.
pub fn main() -> ! {
    let started = Instant::now();
    let outcome = boot().and_then(|p| match p.mode {
        Mode::Record => record(&p),
        Mode::Check => super::guest_check::check(&p),
    });
    let end = match outcome {
        Ok(()) => Line::new("end").with("ok", 1),
        Err(e) => Line::new("end").with("ok", 0).with("msg", format!("{e:#}")),
    };
    say(end.with("secs", format!("{:.2}", started.elapsed().as_secs_f64())));
    nix::unistd::sync();
    let _ = nix::sys::reboot::reboot(nix::sys::reboot::RebootMode::RB_POWER_OFF);
    loop {
        std::thread::sleep(Duration::from_secs(60));
    }
}

/// Prints one of our lines on the console.
pub fn say(l: Line) {
    println!("{}", l.render());
}

fn boot() -> Result<GuestParams> {
    let none: Option<&str> = None;
    mount(Some("proc"), "/proc", Some("proc"), MsFlags::empty(), none).context("mounting /proc")?;
    mount(Some("sysfs"), "/sys", Some("sysfs"), MsFlags::empty(), none).context("mounting /sys")?;
    mount(
        Some("devtmpfs"),
        "/dev",
        Some("devtmpfs"),
        MsFlags::empty(),
        none,
    )
    .context("mounting /dev")?;
    mount(
        Some("tmpfs"),
        "/tmp",
        Some("tmpfs"),
        MsFlags::empty(),
        Some("size=85%"),
    )
    .context("mounting /tmp")?;
    let cmdline = std::fs::read_to_string("/proc/cmdline")?;
    let params = GuestParams::from_cmdline(&cmdline)?;
    let release = nix::sys::utsname::uname()
        .map(|u| u.release().to_string_lossy().into_owned())
        .unwrap_or_default();
    say(Line::new("hello")
        .with("arch", crate::platform::arch())
        .with("kernel", release));
    load_modules()?;
    wait_for("/dev/vda")?;
    Ok(params)
}

fn load_modules() -> Result<()> {
    let order = std::fs::read_to_string(MODULE_ORDER)?;
    for name in order.lines().filter(|l| !l.is_empty()) {
        let path = Path::new(MODULE_DIR).join(name);
        let f = File::open(&path).with_context(|| format!("opening {}", path.display()))?;
        match nix::kmod::finit_module(&f, c"", nix::kmod::ModuleInitFlags::empty()) {
            Ok(()) | Err(nix::errno::Errno::EEXIST) => {}
            Err(e) => return Err(e).with_context(|| format!("loading module {name}")),
        }
    }
    Ok(())
}

/// Waits for a device node to appear (devtmpfs adds it when the driver has probed the disk).
pub fn wait_for(dev: &str) -> Result<()> {
    let deadline = Instant::now() + Duration::from_secs(20);
    while !Path::new(dev).exists() {
        anyhow::ensure!(
            Instant::now() < deadline,
            "{dev} did not appear within 20 s"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    Ok(())
}

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

/// The first boot: the standard workload with the real WAL on the real filesystem of the
/// recorded disk, every issue and acknowledgement marked.
fn record(p: &GuestParams) -> Result<()> {
    let none: Option<&str> = None;
    mount(
        Some("/dev/vda"),
        MNT,
        Some(p.fs.as_str()),
        MsFlags::empty(),
        none,
    )
    .with_context(|| format!("mounting /dev/vda ({}) on {MNT}", p.fs))?;
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
