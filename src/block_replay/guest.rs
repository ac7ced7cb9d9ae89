//! This binary as PID 1 of a block-replay guest: bring up the little it needs, then record
//! (run the standard workload on the recorded disk) or check (every replayed state), or run the
//! `block-io-errors` fault kind's two boots (`crate::faults::block_io_guest`), report on the
//! console, power off.
//!
//! Why the project's own binary and not a shell script: the workload, the oracle and R1-R5 must
//! be exactly the code the rest of the matrix certifies, and run on the guest's architecture.
//! The guest has no userland but busybox (whose `losetup` sets up the loop device each state is
//! mounted from: the loop ioctls would need unsafe code here); modules are loaded with
//! finit_module. Whatever happens, the guest powers off, so a failure ends the boot instead of
//! hanging it.

use std::fs::File;
use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use nix::mount::{mount, MsFlags};

use super::console::{GuestParams, Line, Mode};
use super::guest_env::{say, wait_for};
use super::initramfs::{MODULE_DIR, MODULE_ORDER};

/// Whether this process is the init of a block-replay guest.
pub fn is_guest() -> bool {
    std::process::id() == 1 && std::env::args_os().next().is_some_and(|a| a == "/init")
}

/// The guest's whole life. Never returns: the machine powers off.
pub fn main() -> ! {
    let started = Instant::now();
    let outcome = boot().and_then(|p| match p.mode {
        Mode::Record => super::guest_record::record(&p),
        Mode::Check => super::guest_check::check(&p),
        Mode::IoFaults => crate::faults::block_io_guest::inject(&p),
        Mode::IoCheck => crate::faults::block_io_guest::check(&p),
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
