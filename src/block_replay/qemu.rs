//! Booting a guest under qemu-system: the command line per architecture, the accelerator, and
//! reading the console until the guest powers off or a deadline passes.
//!
//! Why KVM is only tried: these machines are themselves virtual machines and have a /dev/kvm
//! on which a guest hangs at boot, while GitHub's x64 runners have a working one. So KVM is
//! used only when /dev/kvm opens, and only if the guest says hello within a short time; else
//! the boot is abandoned (the caller rebuilds its disks) and TCG runs by itself.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};

use super::console::Line;

/// How the guest's CPU runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Accel {
    Kvm,
    Tcg,
}

impl Accel {
    pub fn name(self) -> &'static str {
        match self {
            Accel::Kvm => "kvm",
            Accel::Tcg => "tcg",
        }
    }
}

/// The qemu-system binary for a guest architecture.
pub fn system_binary(arch: &str) -> Option<&'static str> {
    match arch {
        "amd64" => Some("qemu-system-x86_64"),
        "arm64" => Some("qemu-system-aarch64"),
        "s390x" => Some("qemu-system-s390x"),
        "riscv64" => Some("qemu-system-riscv64"),
        _ => None,
    }
}

/// The Debian package that has it.
pub fn system_package(arch: &str) -> &'static str {
    match arch {
        "arm64" => "qemu-system-arm",
        "s390x" | "riscv64" => "qemu-system-misc",
        _ => "qemu-system-x86",
    }
}

/// Whether KVM can run a guest of `arch` here: the host is that architecture and /dev/kvm opens.
pub fn kvm_usable(arch: &str) -> bool {
    arch == crate::platform::arch()
        && std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .open("/dev/kvm")
            .is_ok()
}

/// One disk of a guest.
pub enum Disk<'a> {
    /// A raw image whose every write is logged into `log` (blklogwrites).
    Logged { image: &'a Path, log: &'a Path },
    /// A raw file the guest only reads.
    ReadOnly(&'a Path),
    /// A raw image the guest reads and writes.
    Plain(&'a Path),
    /// A raw image behind QEMU's `blkdebug` driver, which fails one request with EIO (see
    /// [`IoError`]).
    Failing { image: &'a Path, error: IoError },
}

/// The EIO a `blkdebug` disk returns. The error is armed, not live from the start: the mount
/// and the WAL's set-up must not meet it. blkdebug's state machine starts in state 1; a
/// write-zeroes request (the guest's `fallocate(FALLOC_FL_ZERO_RANGE)` on the raw disk, past the
/// filesystem, which neither ext4 mounted `noinit_itable` nor xfs ever sends) moves it to
/// state 2, where the next write or flush fails once (`once=on`) and never again. A read fails
/// from then on, every time: Linux retries a failed buffered read once (readahead, then a
/// single page), so an error that strikes once never reaches the reader.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IoError {
    /// The next data write.
    Write,
    /// The next cache flush (what fsync and fdatasync send).
    Flush,
    /// Every read.
    Read,
}

impl IoError {
    /// The blkdebug event and I/O type of the rule, and whether it strikes once.
    fn rule(self) -> (&'static str, &'static str, &'static str) {
        match self {
            IoError::Write => ("write_aio", "write", "on"),
            IoError::Flush => ("flush_to_disk", "flush", "on"),
            IoError::Read => ("read_aio", "read", "off"),
        }
    }
}

/// The blkdebug event that arms the error.
pub const ARM_EVENT: &str = "pwritev_zero";

/// One guest boot.
pub struct Boot<'a> {
    pub arch: &'a str,
    pub kernel: &'a Path,
    pub initrd: &'a Path,
    pub append: String,
    pub disks: Vec<Disk<'a>>,
    pub memory_mib: u32,
}

/// The full qemu command, as a list of words.
pub fn command_line(b: &Boot, accel: Accel) -> Result<Vec<String>> {
    let bin = system_binary(b.arch).with_context(|| format!("no guest for {}", b.arch))?;
    let mut a: Vec<String> = vec![bin.into()];
    let (console, machine, blk): (&str, &[&str], &str) = match b.arch {
        "amd64" => ("ttyS0", &[], "virtio-blk-pci"),
        "s390x" => ("ttysclp0", &["-M", "s390-ccw-virtio"], "virtio-blk-ccw"),
        // OpenSBI as firmware (Debian's opensbi package).
        "riscv64" => (
            "ttyS0",
            &["-M", "virt", "-bios", "default"],
            "virtio-blk-pci",
        ),
        _ => ("ttyAMA0", &["-M", "virt"], "virtio-blk-pci"),
    };
    a.extend(machine.iter().map(|s| s.to_string()));
    match (accel, b.arch) {
        (Accel::Kvm, _) => a.extend(["-accel".into(), "kvm".into(), "-cpu".into(), "host".into()]),
        (Accel::Tcg, "amd64" | "s390x" | "riscv64") => a.extend(["-accel".into(), "tcg".into()]),
        (Accel::Tcg, _) => a.extend([
            "-accel".into(),
            "tcg".into(),
            // Pointer authentication with QEMU's cheap algorithm: `max` with the architected
            // one is several times slower under emulation.
            "-cpu".into(),
            "max,pauth-impdef=on".into(),
        ]),
    }
    a.extend(
        [
            "-m",
            &b.memory_mib.to_string(),
            "-smp",
            "1",
            "-nographic",
            "-no-reboot",
            "-kernel",
        ]
        .iter()
        .map(|s| s.to_string()),
    );
    a.push(b.kernel.display().to_string());
    a.push("-initrd".into());
    a.push(b.initrd.display().to_string());
    a.push("-append".into());
    a.push(format!(
        "console={console} panic=-1 quiet loglevel=1 {}",
        b.append
    ));
    for (i, d) in b.disks.iter().enumerate() {
        match d {
            Disk::Logged { image, log } => {
                a.push("-blockdev".into());
                a.push(format!(
                    "driver=file,filename={},node-name=base{i},cache.direct=off",
                    image.display()
                ));
                a.push("-blockdev".into());
                a.push(format!(
                    "driver=file,filename={},node-name=logf{i},locking=off",
                    log.display()
                ));
                a.push("-blockdev".into());
                a.push(format!(
                    "driver=blklogwrites,file=base{i},log=logf{i},node-name=d{i}"
                ));
            }
            Disk::ReadOnly(p) => {
                a.push("-blockdev".into());
                a.push(format!(
                    "driver=raw,read-only=on,node-name=d{i},file.driver=file,file.filename={},file.locking=off",
                    p.display()
                ));
            }
            Disk::Plain(p) => {
                a.push("-blockdev".into());
                a.push(format!(
                    "driver=raw,node-name=d{i},file.driver=file,file.filename={},file.locking=off",
                    p.display()
                ));
            }
            Disk::Failing { image, error } => {
                let (event, iotype, once) = error.rule();
                a.push("-blockdev".into());
                a.push(format!(
                    "driver=file,filename={},node-name=base{i},locking=off",
                    image.display()
                ));
                // raw on top: raw-format is what announces read_aio and write_aio to its child.
                a.push("-blockdev".into());
                a.push(format!(
                    "driver=blkdebug,image=base{i},node-name=dbg{i},\
                     set-state.0.event={ARM_EVENT},set-state.0.state=1,set-state.0.new_state=2,\
                     inject-error.0.event={event},inject-error.0.state=2,\
                     inject-error.0.iotype={iotype},inject-error.0.errno=5,inject-error.0.once={once}"
                ));
                a.push("-blockdev".into());
                a.push(format!("driver=raw,file=dbg{i},node-name=d{i}"));
            }
        }
        a.push("-device".into());
        a.push(format!("{blk},drive=d{i}"));
    }
    Ok(a)
}

/// What a boot printed (ours only; the whole console is written to a file) and how long it took.
pub struct Console {
    pub lines: Vec<Line>,
    pub seconds: f64,
}

/// Why a boot is abandoned.
#[derive(Debug)]
pub enum BootFailure {
    /// No `hello` within the first deadline (a hung accelerator).
    NoHello,
    Other(anyhow::Error),
}

/// Boots, collecting our console lines until qemu exits. `hello_within`: abandon the boot if
/// the guest has not said hello by then; `limit`: kill it after this long in all.
pub fn run(
    b: &Boot,
    accel: Accel,
    hello_within: Duration,
    limit: Duration,
    console_log: &Path,
) -> std::result::Result<Console, BootFailure> {
    let argv = command_line(b, accel).map_err(BootFailure::Other)?;
    let started = Instant::now();
    let (mut child, rx) = spawn_with_lines(&argv).map_err(BootFailure::Other)?;
    let shown: Vec<String> = argv.iter().map(|a| crate::shell::shell_quote(a)).collect();
    let mut raw = vec![format!("$ {}", shown.join(" "))];
    let (lines, failure) = read_console(&rx, started, hello_within, limit, &mut raw);
    if failure.is_some() {
        let _ = child.kill();
    }
    let status = child.wait();
    let _ = std::fs::write(console_log, raw.join("\n") + "\n");
    if let Some(f) = failure {
        return Err(f);
    }
    match status {
        Ok(s) if s.success() => Ok(Console {
            lines,
            seconds: started.elapsed().as_secs_f64(),
        }),
        Ok(s) => Err(BootFailure::Other(anyhow::anyhow!(
            "{} exited with {s}{}",
            argv[0],
            last_words(&raw)
        ))),
        Err(e) => Err(BootFailure::Other(e.into())),
    }
}

/// Starts `argv`; its stdout and stderr (prefixed `qemu: `) arrive line by line on the channel,
/// which disconnects when both are closed.
fn spawn_with_lines(argv: &[String]) -> Result<(std::process::Child, mpsc::Receiver<String>)> {
    let mut child = Command::new(&argv[0])
        .args(&argv[1..])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .with_context(|| format!("cannot start {}", argv[0]))?;
    let (tx, rx) = mpsc::channel::<String>();
    let out = child.stdout.take().context("qemu has no stdout pipe")?;
    let err = child.stderr.take().context("qemu has no stderr pipe")?;
    let tx2 = tx.clone();
    std::thread::spawn(move || {
        for l in BufReader::new(out).lines().map_while(|l| l.ok()) {
            let _ = tx.send(l);
        }
    });
    std::thread::spawn(move || {
        for l in BufReader::new(err).lines().map_while(|l| l.ok()) {
            let _ = tx2.send(format!("qemu: {l}"));
        }
    });
    Ok((child, rx))
}

/// Reads the console until qemu closes it: the guest's protocol lines, and every line into
/// `raw`. The guest must say hello within `hello_within` and finish within `limit` (both from
/// `started`); otherwise, the failure.
fn read_console(
    rx: &mpsc::Receiver<String>,
    started: Instant,
    hello_within: Duration,
    limit: Duration,
    raw: &mut Vec<String>,
) -> (Vec<Line>, Option<BootFailure>) {
    let mut lines = Vec::new();
    let mut hello = false;
    loop {
        let deadline = if hello {
            limit
        } else {
            hello_within.min(limit)
        };
        let left = deadline.saturating_sub(started.elapsed());
        match rx.recv_timeout(left.max(Duration::from_millis(1))) {
            Ok(l) => {
                if let Some(line) = Line::parse(&l) {
                    hello |= line.kind == "hello";
                    lines.push(line);
                }
                raw.push(l);
            }
            Err(mpsc::RecvTimeoutError::Disconnected) => return (lines, None),
            Err(mpsc::RecvTimeoutError::Timeout) if hello => {
                let why = anyhow::anyhow!("the guest did not finish within {} s", limit.as_secs());
                return (lines, Some(BootFailure::Other(why)));
            }
            Err(mpsc::RecvTimeoutError::Timeout) => return (lines, Some(BootFailure::NoHello)),
        }
    }
}

/// qemu's own last two lines on stderr (they say more than its exit status), as `: a / b`.
fn last_words(raw: &[String]) -> String {
    let said: Vec<&str> = raw
        .iter()
        .filter_map(|l| l.strip_prefix("qemu: "))
        .collect();
    let last = said[said.len().saturating_sub(2)..].join(" / ");
    if last.is_empty() {
        last
    } else {
        format!(": {last}")
    }
}

/// Boots with KVM when it is usable and answers in time, else with TCG. `prepare` is called
/// before each attempt (a boot that was abandoned may have written to its disks).
pub fn run_any(
    b: &Boot,
    limit: Duration,
    console_log: &Path,
    prefer_kvm: bool,
    mut prepare: impl FnMut() -> Result<()>,
) -> Result<(Console, Accel, Vec<String>)> {
    let mut notes = Vec::new();
    if prefer_kvm && kvm_usable(b.arch) {
        prepare()?;
        match run(b, Accel::Kvm, Duration::from_secs(20), limit, console_log) {
            Ok(c) => return Ok((c, Accel::Kvm, notes)),
            Err(BootFailure::NoHello) => {
                notes.push("KVM: no hello from the guest within 20 s; fell back to TCG".into())
            }
            Err(BootFailure::Other(e)) => {
                notes.push(format!("KVM failed ({e:#}); fell back to TCG"))
            }
        }
    }
    prepare()?;
    match run(b, Accel::Tcg, limit, limit, console_log) {
        Ok(c) => Ok((c, Accel::Tcg, notes)),
        Err(BootFailure::NoHello) => bail!(
            "the guest never said hello within {} s under TCG; its console is in {}",
            limit.as_secs(),
            console_log.display()
        ),
        Err(BootFailure::Other(e)) => Err(e.context(format!(
            "the guest's console is in {}",
            console_log.display()
        ))),
    }
}

/// A second boot of a guest that booted before under `accel`: KVM again when it had KVM (a
/// failure is then the boot's, not the accelerator's), else TCG.
pub fn run_again(b: &Boot, accel: Accel, limit: Duration, console_log: &Path) -> Result<Console> {
    match accel {
        Accel::Kvm => run(b, accel, limit, limit, console_log)
            .map_err(|e| anyhow::anyhow!("the boot failed under KVM: {e:?}")),
        Accel::Tcg => Ok(run_any(b, limit, console_log, false, || Ok(()))?.0),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_failed_boot_is_told_by_qemus_last_two_lines_on_stderr() {
        let raw: Vec<String> = [
            "$ qemu-system-x86_64 …",
            "qemu: a",
            "[ 0.1] guest",
            "qemu: b",
            "qemu: c",
        ]
        .map(String::from)
        .to_vec();
        assert_eq!(last_words(&raw), ": b / c");
        assert_eq!(last_words(&raw[..3]), ": a");
        assert_eq!(last_words(&raw[..1]), "");
    }

    #[test]
    fn the_recorded_disk_is_behind_blklogwrites_and_the_others_read_only() {
        let b = Boot {
            arch: "arm64",
            kernel: Path::new("/k/vmlinuz"),
            initrd: Path::new("/k/initrd"),
            append: "pm.mode=record".into(),
            disks: vec![
                Disk::Logged {
                    image: Path::new("/d/disk.img"),
                    log: Path::new("/d/record.log"),
                },
                Disk::ReadOnly(Path::new("/d/pristine.log")),
            ],
            memory_mib: 512,
        };
        let a = command_line(&b, Accel::Tcg).unwrap().join(" ");
        assert!(
            a.starts_with("qemu-system-aarch64 -M virt -accel tcg"),
            "{a}"
        );
        assert!(a.contains("console=ttyAMA0"), "{a}");
        assert!(
            a.contains("driver=blklogwrites,file=base0,log=logf0,node-name=d0"),
            "{a}"
        );
        assert!(a.contains("read-only=on,node-name=d1"), "{a}");
        assert!(a.contains("virtio-blk-pci,drive=d1"), "{a}");
        let s = command_line(
            &Boot {
                arch: "s390x",
                append: String::new(),
                disks: vec![Disk::ReadOnly(Path::new("/d/record.log"))],
                ..b
            },
            Accel::Tcg,
        )
        .unwrap()
        .join(" ");
        assert!(
            s.starts_with("qemu-system-s390x -M s390-ccw-virtio -accel tcg -m"),
            "{s}"
        );
        assert!(
            s.contains("console=ttysclp0") && s.contains("virtio-blk-ccw,drive=d0"),
            "{s}"
        );
        let f = command_line(
            &Boot {
                arch: "amd64",
                append: String::new(),
                disks: vec![
                    Disk::Failing {
                        image: Path::new("/d/w.img"),
                        error: IoError::Write,
                    },
                    Disk::Failing {
                        image: Path::new("/d/f.img"),
                        error: IoError::Flush,
                    },
                    Disk::Plain(Path::new("/d/r.img")),
                ],
                ..b
            },
            Accel::Tcg,
        )
        .unwrap();
        let f = f.join(" ");
        assert!(
            f.contains(
                "driver=blkdebug,image=base0,node-name=dbg0,set-state.0.event=pwritev_zero,\
                 set-state.0.state=1,set-state.0.new_state=2,inject-error.0.event=write_aio,\
                 inject-error.0.state=2,inject-error.0.iotype=write,inject-error.0.errno=5,\
                 inject-error.0.once=on -blockdev driver=raw,file=dbg0,node-name=d0"
            ),
            "{f}"
        );
        assert!(
            f.contains("inject-error.0.event=flush_to_disk,inject-error.0.state=2,inject-error.0.iotype=flush"),
            "{f}"
        );
        assert!(
            f.contains("driver=raw,node-name=d2,file.driver=file,file.filename=/d/r.img"),
            "{f}"
        );
        assert!(f.contains("virtio-blk-pci,drive=d2"), "{f}");
        let k = command_line(&Boot { arch: "amd64", ..b }, Accel::Kvm)
            .unwrap()
            .join(" ");
        assert!(
            k.contains("-accel kvm -cpu host") && k.contains("console=ttyS0"),
            "{k}"
        );
    }
}
