//! The host's side of block replay: make the filesystem, boot the guest twice (record, then
//! check every replayed state), and turn what the guest reported into the evidence section.
//!
//! Why two boots and no more: a boot costs seconds under emulation, so the first records the
//! whole workload once and the second checks every state in one go. Nothing touches the host's
//! kernel: the filesystem is made by the host's mkfs on an image file, the images are plain
//! files, and the only mounts are inside the guest. Whatever goes wrong becomes the section's
//! FAIL or SKIP with its reason, never a cell that stops.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};

use super::console::{GuestParams, Line, Mode};
use super::guest_image::{on_path, Guest};
use super::logwrites::{image_as_log, Log};
use super::marks;
use super::qemu::{self, Boot, Disk};
use super::replay::{self, Epochs, StateSpec};
use super::summary::{BlockReplay, Run, StateFailure};
use crate::crash::workload::Protocol;
use crate::evidence::log::say;

/// What to run.
#[derive(Debug, Clone)]
pub struct Request {
    /// The guest's architecture (Debian name).
    pub arch: String,
    pub fs: String,
    /// The filesystem's mount options in the guest (`mount -o`'s form); `None`: the defaults.
    pub mount_options: Option<String>,
    pub seed: u64,
    pub protocol: Protocol,
    pub subset_bound: u32,
    /// Torn writes per epoch (0: none).
    pub tears: u32,
    /// Keep every file here (a new or empty directory); else a temporary directory.
    pub keep: Option<PathBuf>,
    /// The binary that becomes the guest's /init; default: this one, or the cross-built one.
    pub guest_bin: Option<PathBuf>,
    /// Check the states in a guest of this architecture instead (another byte order, say).
    pub check_arch: Option<String>,
    pub try_kvm: bool,
    /// Logs at most this large are copied here, beside the evidence.
    pub evidence_dir: Option<PathBuf>,
}

/// Subsets per epoch a cell explores exhaustively (sampled beyond).
pub const DEFAULT_SUBSETS: u32 = 4;
/// Logs up to this size are kept in the evidence.
const KEEP_LOG_BYTES: u64 = 8 << 20;
const RECORD_LIMIT: Duration = Duration::from_secs(300);
const CHECK_LIMIT: Duration = Duration::from_secs(900);

/// The filesystems block replay makes and mounts in its guest.
pub const FILESYSTEMS: &[&str] = &["ext4", "xfs", "btrfs"];

/// The size of the filesystem made for the guest (mkfs.xfs refuses less than 300 MiB,
/// mkfs.btrfs less than 109 MiB).
pub fn fs_bytes(fs: &str) -> u64 {
    match fs {
        "xfs" => 320 << 20,
        "btrfs" => 128 << 20,
        _ => 64 << 20,
    }
}

/// Runs block replay; every outcome is a section (SKIP when it cannot run here).
pub fn run(req: &Request) -> BlockReplay {
    let prepared = match prerequisites(req) {
        Ok(p) => p,
        Err(why) => return BlockReplay::skip(format!("{why:#}")),
    };
    let (dir, _tmp) = match workdir(req) {
        Ok(d) => d,
        Err(e) => return BlockReplay::skip(format!("no work directory: {e:#}")),
    };
    let outcome = replay(req, prepared, &dir);
    // The guest's consoles go beside the evidence whatever happened: they are small, and the
    // work directory may be temporary.
    if let Some(e) = &req.evidence_dir {
        let dest = e.join("block_replay");
        for c in ["console-record.txt", "console-check.txt"] {
            if dir.join(c).is_file() && std::fs::create_dir_all(&dest).is_ok() {
                let _ = std::fs::copy(dir.join(c), dest.join(c));
            }
        }
    }
    match outcome {
        Ok(r) => r,
        Err(e) => BlockReplay {
            status: "FAIL",
            reason: Some(format!("block replay could not finish: {e:#}")),
            run: None,
        },
    }
}

/// What must be here before anything runs; the error is the SKIP reason.
fn prerequisites(req: &Request) -> Result<(Guest, Option<Guest>)> {
    if !FILESYSTEMS.contains(&req.fs.as_str()) {
        bail!(
            "block replay knows {} only, not {}",
            FILESYSTEMS.join(", "),
            req.fs
        );
    }
    let mkfs = format!("mkfs.{}", req.fs);
    if !on_path(&mkfs) {
        bail!("{mkfs} is not installed");
    }
    let record = Guest::prepare(&req.arch, req.guest_bin.as_deref())?;
    let check = match &req.check_arch {
        Some(a) if *a != req.arch => Some(Guest::prepare(a, None)?),
        _ => None,
    };
    Ok((record, check))
}

fn workdir(req: &Request) -> Result<(PathBuf, Option<tempfile::TempDir>)> {
    match &req.keep {
        Some(d) => {
            crate::dirs::new_or_empty(d, "--keep")?;
            Ok((d.clone(), None))
        }
        None => {
            let t = tempfile::Builder::new()
                .prefix("pm-block-replay-")
                .tempdir()?;
            Ok((t.path().to_path_buf(), Some(t)))
        }
    }
}

/// Makes the filesystem on an image file with the host's mkfs; returns its options and version.
pub fn make_fs(fs: &str, img: &Path, bytes: u64) -> Result<(Vec<String>, Option<String>)> {
    File::create(img)?.set_len(bytes)?;
    let opts: Vec<String> = crate::filesystems::mkfs_options(fs)
        .iter()
        .map(|s| s.to_string())
        .collect();
    let out = Command::new(format!("mkfs.{fs}"))
        .args(&opts)
        .arg(img)
        .output()
        .with_context(|| format!("cannot run mkfs.{fs}"))?;
    anyhow::ensure!(
        out.status.success(),
        "mkfs.{fs} failed: {}",
        String::from_utf8_lossy(&out.stderr).trim()
    );
    let v = Command::new(format!("mkfs.{fs}"))
        .arg("-V")
        .output()
        .ok()
        .map(|o| {
            String::from_utf8_lossy(if o.stdout.is_empty() {
                &o.stderr
            } else {
                &o.stdout
            })
            .lines()
            .next()
            .unwrap_or("")
            .trim()
            .to_string()
        });
    Ok((opts, v))
}

fn replay(req: &Request, guests: (Guest, Option<Guest>), dir: &Path) -> Result<BlockReplay> {
    let (pre, check_guest) = guests;
    let started = Instant::now();
    let disks = prepare(req, &pre, check_guest.as_ref(), dir)?;
    let params = |mode| GuestParams {
        mode,
        fs: req.fs.clone(),
        seed: req.seed,
        protocol: req.protocol,
        fs_bytes: disks.fs_bytes,
        disk_bytes: disks.disk_bytes,
        bound: req.subset_bound,
        tears: req.tears,
        expect: String::new(),
        mount_options: req.mount_options.clone().unwrap_or_default(),
    };
    let rec = record(req, &pre, &disks, params(Mode::Record).to_cmdline(), dir)?;
    let rbytes = std::fs::read(&rec.log)?;
    let rlog = Log::parse(rbytes.as_slice()).context("the recorded log")?;
    let ep = Epochs::of(&rlog);
    let plan = replay::plan(&rlog, &ep, req.seed, req.subset_bound, req.tears);
    let distinct = replay::distinct(&rlog, &ep, &plan)?;

    // Boot 2: check every state, with the same guest or the one of --check-arch.
    let checker = check_guest.as_ref().unwrap_or(&pre);
    let check_console = dir.join("console-check.txt");
    let check_boot = Boot {
        arch: &checker.arch,
        kernel: &checker.kernel.vmlinuz,
        initrd: disks.initrd_of(check_guest.is_some()),
        append: params(Mode::Check).to_cmdline(),
        disks: vec![Disk::ReadOnly(&rec.log), Disk::ReadOnly(&disks.pristine)],
        memory_mib: 1024,
    };
    let (chk, check_accel) = check(
        req,
        &check_boot,
        rec.accel,
        check_guest.is_some(),
        &check_console,
    )?;
    let done = find(&chk.lines, "checked").context("the check boot reported no totals")?;
    let checked = done.num("checked").unwrap_or(0);
    let check_secs: f64 = done.get("secs").and_then(|s| s.parse().ok()).unwrap_or(0.0);

    let log_kept = keep_logs(req, &rec.log, &disks.pristine)?;
    let rebuild_from = log_kept
        .clone()
        .map(PathBuf::from)
        .unwrap_or_else(|| dir.to_path_buf());
    let failures = failures_of(&chk.lines, &rebuild_from, disks.disk_bytes);
    let reported = chk.lines.iter().filter(|l| l.kind == "state").count();
    anyhow::ensure!(
        reported == plan.states.len(),
        "the guest reported {reported} of {} states; its console is in {}",
        plan.states.len(),
        check_console.display()
    );
    if req.keep.is_none() {
        // The temporary directory goes; say where the logs are if they were kept.
        let _ = std::fs::remove_file(&disks.initrd);
        let _ = std::fs::remove_file(&disks.check_initrd);
    }
    let violations = failures.len() as u64;
    Ok(BlockReplay {
        status: if violations == 0 { "PASS" } else { "FAIL" },
        reason: None,
        run: Some(Run {
            kernel: pre.kernel.clone(),
            guest_arch: req.arch.clone(),
            accelerator: rec.accel.name(),
            check_arch: checker.arch.clone(),
            check_kernel: check_guest.as_ref().map(|g| g.kernel.clone()),
            check_accelerator: check_accel.name(),
            accelerator_notes: rec.notes,
            fs: req.fs.clone(),
            mkfs_options: disks.mkfs_options,
            mkfs_version: disks.mkfs_version,
            mount_options: req
                .mount_options
                .as_deref()
                .map_or(Vec::new(), |o| o.split(',').map(String::from).collect()),
            fs_bytes: disks.fs_bytes,
            workload: "standard",
            protocol: req.protocol.name(),
            seed: req.seed,
            subset_bound: req.subset_bound,
            tears: req.tears,
            log_entries: rlog.entries.len() as u64,
            log_writes: rlog.entries.iter().filter(|e| e.changes_disk()).count() as u64,
            flushes: rlog.flushes() as u64,
            log_bytes: rbytes.len() as u64,
            log_sha256: crate::digest::sha256_hex(&rbytes),
            log_kept,
            appends: rec.appends,
            flush_points: ep.flush_points() as u64,
            states_replayed: plan.states.len() as u64,
            states_distinct: distinct as u64,
            states_checked: checked,
            exhaustive: plan.exhaustive,
            violations,
            seconds: started.elapsed().as_secs_f64(),
            record_seconds: rec.seconds,
            check_seconds: chk.seconds,
            states_per_second: if check_secs > 0.0 {
                checked as f64 / check_secs
            } else {
                0.0
            },
            record_command: record_command(req),
            failures,
        }),
    })
}

/// The files both boots start from: the pristine filesystem (as a log), and the initramfs of
/// each guest.
struct Disks {
    fs_bytes: u64,
    /// The filesystem plus the marker region.
    disk_bytes: u64,
    pristine: PathBuf,
    initrd: PathBuf,
    /// The checking guest's, with --check-arch.
    check_initrd: PathBuf,
    mkfs_options: Vec<String>,
    mkfs_version: Option<String>,
}

impl Disks {
    fn initrd_of(&self, other_checker: bool) -> &Path {
        if other_checker {
            &self.check_initrd
        } else {
            &self.initrd
        }
    }
}

/// Makes the filesystem with the host's mkfs, keeps it as a log of its sectors, and writes the
/// initramfs of each guest.
fn prepare(req: &Request, pre: &Guest, check_guest: Option<&Guest>, dir: &Path) -> Result<Disks> {
    let fs_bytes = fs_bytes(&req.fs);
    let disk_bytes = fs_bytes + marks::REGION_BYTES;
    let img = dir.join("pristine.img");
    let (mkfs_options, mkfs_version) = make_fs(&req.fs, &img, fs_bytes)?;
    File::options()
        .write(true)
        .open(&img)?
        .set_len(disk_bytes)?;
    let pristine = dir.join("pristine.log");
    std::fs::write(&pristine, image_as_log(&File::open(&img)?, 512)?)?;
    std::fs::remove_file(&img)?;
    let initrd = dir.join("initrd.cpio");
    pre.write_initrd(&initrd, &req.fs)?;
    let check_initrd = dir.join("initrd-check.cpio");
    if let Some(g) = check_guest {
        g.write_initrd(&check_initrd, &req.fs)?;
    }
    Ok(Disks {
        fs_bytes,
        disk_bytes,
        pristine,
        initrd,
        check_initrd,
        mkfs_options,
        mkfs_version,
    })
}

/// What the record boot left: the block log, and how the boot went.
struct Recorded {
    log: PathBuf,
    accel: qemu::Accel,
    notes: Vec<String>,
    appends: u64,
    seconds: f64,
}

/// Boot 1: the workload on a fresh copy of the pristine disk, behind blklogwrites.
fn record(
    req: &Request,
    pre: &Guest,
    disks: &Disks,
    append: String,
    dir: &Path,
) -> Result<Recorded> {
    let disk = dir.join("disk.img");
    let log = dir.join("record.log");
    let boot = Boot {
        arch: &req.arch,
        kernel: &pre.kernel.vmlinuz,
        initrd: &disks.initrd,
        append,
        disks: vec![Disk::Logged {
            image: &disk,
            log: &log,
        }],
        memory_mib: 512,
    };
    let fresh_disk = || -> Result<()> {
        rebuild_pristine(&disks.pristine, &disk, disks.disk_bytes)?;
        File::create(&log)?;
        Ok(())
    };
    let console = dir.join("console-record.txt");
    let (rec, accel, notes) =
        qemu::run_any(&boot, RECORD_LIMIT, &console, req.try_kvm, fresh_disk)?;
    guest_finished(&rec.lines, "record", &console)?;
    let appends = find(&rec.lines, "recorded")
        .and_then(|l| l.num("appends"))
        .unwrap_or(0);
    let _ = std::fs::remove_file(&disk);
    Ok(Recorded {
        log,
        accel,
        notes,
        appends,
        seconds: rec.seconds,
    })
}

/// Boot 2: the same guest under the record boot's accelerator; a guest of another
/// architecture decides afresh.
fn check(
    req: &Request,
    boot: &Boot,
    record_accel: qemu::Accel,
    other_checker: bool,
    console: &Path,
) -> Result<(qemu::Console, qemu::Accel)> {
    let (chk, accel) = if other_checker {
        let (c, a, _) = qemu::run_any(boot, CHECK_LIMIT, console, req.try_kvm, || Ok(()))?;
        (c, a)
    } else {
        let c =
            qemu::run_again(boot, record_accel, CHECK_LIMIT, console).context("the check boot")?;
        (c, record_accel)
    };
    guest_finished(&chk.lines, "check", console)?;
    Ok((chk, accel))
}

/// The states the guest reported failing, each with the command that rebuilds its image.
fn failures_of(lines: &[Line], rebuild_from: &Path, disk_bytes: u64) -> Vec<StateFailure> {
    lines
        .iter()
        .filter(|l| l.kind == "state" && l.get("verdict") == Some("fail"))
        .filter_map(|l| {
            let spec: StateSpec = l.get("spec")?.parse().ok()?;
            Some(StateFailure {
                rebuild: rebuild_command(rebuild_from, &spec, disk_bytes),
                state: spec.to_string(),
                flush_point: spec.flush as u64,
                subset: spec.subset.clone(),
                check: l.get("check").unwrap_or("?").into(),
                msg: l.get("msg").unwrap_or("").into(),
            })
        })
        .collect()
}

/// The recorded disk, fresh: the pristine image rebuilt from its log as a sparse file.
fn rebuild_pristine(pristine: &Path, disk: &Path, disk_bytes: u64) -> Result<()> {
    let _ = std::fs::remove_file(disk);
    let src = File::open(pristine)?;
    let p = Log::parse(&src)?;
    let img = File::options()
        .read(true)
        .write(true)
        .create_new(true)
        .open(disk)?;
    img.set_len(disk_bytes)?;
    let all: Vec<_> = p
        .entries
        .iter()
        .filter(|e| e.changes_disk())
        .copied()
        .collect();
    replay::apply(&p, &src, &all, &img)
}

/// The guest ended on its own and well; else the error names the console file.
fn guest_finished(lines: &[Line], what: &str, console: &Path) -> Result<()> {
    match find(lines, "end") {
        Some(l) if l.get("ok") == Some("1") => Ok(()),
        Some(l) => bail!(
            "the {what} boot failed in the guest: {}; its console is in {}",
            l.get("msg").unwrap_or("no reason given"),
            console.display()
        ),
        None => bail!(
            "the {what} boot ended without a verdict; its console is in {}",
            console.display()
        ),
    }
}

fn find<'a>(lines: &'a [Line], kind: &str) -> Option<&'a Line> {
    lines.iter().rev().find(|l| l.kind == kind)
}

/// Copies the two logs beside the evidence when they are small; where they went.
fn keep_logs(req: &Request, record: &Path, pristine: &Path) -> Result<Option<String>> {
    let dest = match (&req.evidence_dir, &req.keep) {
        (Some(e), _) => e.join("block_replay"),
        (None, Some(k)) => return Ok(Some(k.display().to_string())),
        (None, None) => return Ok(None),
    };
    let size = std::fs::metadata(record)?.len() + std::fs::metadata(pristine)?.len();
    if size > KEEP_LOG_BYTES {
        return Ok(None);
    }
    std::fs::create_dir_all(&dest)?;
    std::fs::copy(record, dest.join("record.log"))?;
    std::fs::copy(pristine, dest.join("pristine.log"))?;
    Ok(Some(dest.display().to_string()))
}

fn record_command(req: &Request) -> String {
    let mut c = format!(
        "{} block-replay --arch {} --fs {} --seed {} --subsets {} --keep DIR",
        req.protocol.invocation(),
        req.arch,
        req.fs,
        req.seed,
        req.subset_bound
    );
    if req.protocol != Protocol::Real {
        c.push_str(&format!(" --protocol {}", req.protocol.name()));
    }
    if req.tears > 0 {
        c.push_str(&format!(" --tears {}", req.tears));
    }
    if let Some(o) = &req.mount_options {
        c.push_str(&format!(" --mount-options {o}"));
    }
    c
}

fn rebuild_command(dir: &Path, spec: &StateSpec, disk_bytes: u64) -> String {
    let q = |p: PathBuf| crate::shell::shell_quote(&p.display().to_string());
    format!(
        "portability-matrix replay-state --pristine {} --log {} --disk-bytes {disk_bytes} --state {spec} --out state.img",
        q(dir.join("pristine.log")),
        q(dir.join("record.log")),
    )
}

/// `replay-state`: rebuilds one state's image from the two logs, for inspection.
pub fn rebuild(
    pristine: &Path,
    log: &Path,
    disk_bytes: u64,
    spec: &StateSpec,
    out: &Path,
) -> Result<()> {
    let p = File::open(pristine).with_context(|| format!("cannot open {}", pristine.display()))?;
    let r = File::open(log).with_context(|| format!("cannot open {}", log.display()))?;
    replay::build_image(&p, &r, spec, disk_bytes, out)?;
    let known = marks::read(&File::open(out)?, disk_bytes - marks::REGION_BYTES)?;
    say(&format!(
        "{}: state {spec}; its marks say {} append(s) issued, entries up to {} acknowledged",
        out.display(),
        known.issued.map_or(0, |o| o + 1),
        known.acked
    ));
    say(&format!(
        "inspect it read-only with: mount -o loop,ro {} /mnt (and umount /mnt; the loop device detaches)",
        out.display()
    ));
    Ok(())
}
