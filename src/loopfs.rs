//! A freshly made filesystem on a loop device, and its guaranteed removal: the matrix makes one
//! per cell, and a cell's full-disk fault makes a small one to fill.
//!
//! `LoopFs::create` makes a sparse image in a private temporary directory, runs
//! `mkfs.<fs>` on it, attaches it with `losetup --find --show` and mounts it on a private mount
//! point. Teardown (unmount, detach, delete) runs from `close` or, failing that, from `Drop`, so
//! it also happens when the cell fails, when this process unwinds from a panic, and after
//! Ctrl-C (the interrupt handler only sets a flag; the stack unwinds normally through here).
//!
//! Teardown never deletes recursively: the image, the mount point and the directory are removed
//! one by one, and only after the unmount, so nothing is ever deleted through a live mount. The
//! external tools (`mkfs`, `losetup`, `mount`, `umount`) are used rather than raw ioctls so that
//! each step is a command a person can rerun; every command is recorded for the evidence.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use anyhow::{bail, Context, Result};

use crate::host_tools::version_line;
use crate::shell::shell_quote;

/// A mounted loop filesystem. Dropping it unmounts, detaches and deletes it.
#[derive(Debug)]
pub struct LoopFs {
    fs: String,
    size: u64,
    dir: PathBuf,
    image: PathBuf,
    mount_point: PathBuf,
    device: Option<String>,
    mounted: bool,
    image_made: bool,
    mount_point_made: bool,
    dir_made: bool,
    /// Every command run so far, as a shell line.
    commands: Vec<String>,
    mkfs_version: Option<String>,
}

fn line(program: &str, args: &[&str]) -> String {
    std::iter::once(program)
        .chain(args.iter().copied())
        .map(shell_quote)
        .collect::<Vec<_>>()
        .join(" ")
}

/// Runs a command to completion with no stdin; its stdout on success, its stderr in the error.
fn run(program: &str, args: &[&str]) -> Result<String> {
    let out = Command::new(program)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .with_context(|| format!("cannot run {program}"))?;
    if !out.status.success() {
        bail!(
            "`{}` failed ({}): {}",
            line(program, args),
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// Waits until the kernel has really released `dev`.
///
/// `losetup -d` succeeds at once even while another process holds the device open (another
/// `losetup -a` reading its status is enough): the kernel then only marks it for automatic
/// clearing and releases it after the last close, from a work queue. Until then the device is
/// still bound to the image. Its sysfs `loop` directory exists exactly while it is bound; without
/// sysfs there is nothing to wait on.
fn wait_detached(dev: &str, limit: Duration) -> Result<()> {
    let Some(name) = dev.strip_prefix("/dev/") else {
        return Ok(());
    };
    let bound = Path::new("/sys/block").join(name).join("loop");
    let start = std::time::Instant::now();
    while bound.exists() {
        if start.elapsed() >= limit {
            bail!(
                "{dev} is still attached {:.0} s after `losetup -d`: something holds it open",
                limit.as_secs_f64()
            );
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    Ok(())
}

impl LoopFs {
    /// Makes, attaches and mounts a `size`-byte `fs` filesystem with the `mkfs` program given.
    /// On error everything made so far is removed again before the error is returned.
    pub fn create(fs: &str, mkfs: &Path, size: u64) -> Result<LoopFs> {
        Self::create_in(&std::env::temp_dir(), fs, mkfs, size)
    }

    /// The same, with the private directory made under `parent`.
    pub fn create_in(parent: &Path, fs: &str, mkfs: &Path, size: u64) -> Result<LoopFs> {
        let dir = tempfile::Builder::new()
            .prefix("pm-matrix-")
            .tempdir_in(parent)
            .context("cannot create a private temporary directory for the filesystem image")?
            .keep();
        let mut l = LoopFs {
            fs: fs.to_string(),
            size,
            image: dir.join(format!("{fs}.img")),
            mount_point: dir.join("mnt"),
            dir,
            device: None,
            mounted: false,
            image_made: false,
            mount_point_made: false,
            dir_made: true,
            commands: Vec::new(),
            mkfs_version: None,
        };
        l.provision(mkfs)?;
        Ok(l)
    }

    fn provision(&mut self, mkfs: &Path) -> Result<()> {
        let image = self.image.display().to_string();
        let file =
            std::fs::File::create(&self.image).with_context(|| format!("cannot create {image}"))?;
        self.image_made = true;
        file.set_len(self.size)
            .with_context(|| format!("cannot size {image} to {} bytes", self.size))?;
        drop(file);
        self.commands
            .push(format!("truncate -s {} {}", self.size, shell_quote(&image)));

        let mkfs_s = mkfs.display().to_string();
        let mut args: Vec<&str> = crate::filesystems::mkfs_options(&self.fs).to_vec();
        args.push(&image);
        self.mkfs_version = version_line(mkfs, "-V");
        self.commands.push(line(&mkfs_s, &args));
        run(&mkfs_s, &args).with_context(|| format!("cannot make {} on {image}", self.fs))?;

        self.commands
            .push(format!("losetup --find --show {}", shell_quote(&image)));
        let dev = run("losetup", &["--find", "--show", &image])
            .context("cannot attach the image to a loop device (is this root?)")?
            .trim()
            .to_string();
        if !dev.starts_with("/dev/") {
            bail!("losetup printed {dev:?} instead of a device");
        }
        self.device = Some(dev.clone());

        std::fs::create_dir(&self.mount_point)
            .with_context(|| format!("cannot create {}", self.mount_point.display()))?;
        self.mount_point_made = true;
        let mp = self.mount_point.display().to_string();
        self.commands
            .push(line("mount", &["-t", &self.fs, &dev, &mp]));
        run("mount", &["-t", &self.fs, &dev, &mp])
            .with_context(|| format!("cannot mount the {} filesystem", self.fs))?;
        self.mounted = true;
        Ok(())
    }

    pub fn mount_point(&self) -> &Path {
        &self.mount_point
    }

    pub fn image(&self) -> &Path {
        &self.image
    }

    pub fn device(&self) -> Option<&str> {
        self.device.as_deref()
    }

    pub fn size(&self) -> u64 {
        self.size
    }

    /// The mkfs program's version line, when it tells.
    pub fn mkfs_version(&self) -> Option<&str> {
        self.mkfs_version.as_deref()
    }

    /// Unmounts, detaches and deletes, reporting the first thing that could not be undone.
    /// Also returns the commands of the whole lifetime, teardown included.
    pub fn close(mut self) -> (Vec<String>, Result<()>) {
        let r = self.teardown();
        (std::mem::take(&mut self.commands), r)
    }

    /// Idempotent: each step is done once and remembered, so a second call does nothing more.
    /// Every step runs even when one before it failed; the first failure is reported.
    fn teardown(&mut self) -> Result<()> {
        let unmounted = self.unmount();
        let detached = self.detach();
        let deleted = self.delete_files();
        unmounted
            .and(detached)
            .and(deleted)
            .with_context(|| format!("cleanup of the {} loop filesystem", self.fs))
    }

    /// Unmounts, retrying for a moment; as a last resort detaches the mount lazily.
    fn unmount(&mut self) -> Result<()> {
        if !std::mem::take(&mut self.mounted) {
            return Ok(());
        }
        let mp = self.mount_point.display().to_string();
        self.commands.push(line("umount", &[&mp]));
        // A process that the cell left behind may hold the mount for a moment.
        let Err(e) = retrying(10, Duration::from_millis(300), || run("umount", &[&mp])) else {
            return Ok(());
        };
        // Last resort: detach it from the tree now; the kernel frees it when unused.
        self.commands.push(line("umount", &["--lazy", &mp]));
        run("umount", &["--lazy", &mp])?;
        Err(e.context("the mount was busy and was detached lazily"))
    }

    /// Detaches the loop device and waits until the kernel has really let go of it.
    fn detach(&mut self) -> Result<()> {
        let Some(dev) = self.device.take() else {
            return Ok(());
        };
        self.commands.push(line("losetup", &["-d", &dev]));
        retrying(5, Duration::from_millis(200), || {
            run("losetup", &["-d", &dev])
        })?;
        wait_detached(&dev, Duration::from_secs(10))
    }

    /// Removes the image, the mount point and the private directory, one by one.
    fn delete_files(&mut self) -> Result<()> {
        let mut first: Result<()> = Ok(());
        if std::mem::take(&mut self.image_made) {
            first = first.and(
                std::fs::remove_file(&self.image)
                    .with_context(|| format!("cannot delete {}", self.image.display())),
            );
        }
        if std::mem::take(&mut self.mount_point_made) {
            first = first.and(std::fs::remove_dir(&self.mount_point).with_context(|| {
                format!(
                    "cannot remove the mount point {}",
                    self.mount_point.display()
                )
            }));
        }
        if std::mem::take(&mut self.dir_made) {
            self.commands.push(format!(
                "rm -r {}",
                shell_quote(&self.dir.display().to_string())
            ));
            first = first.and(
                std::fs::remove_dir(&self.dir)
                    .with_context(|| format!("cannot remove {}", self.dir.display())),
            );
        }
        first
    }
}

/// Runs `attempt`, and again up to `retries` times `pause` apart while it fails.
fn retrying(retries: u32, pause: Duration, attempt: impl Fn() -> Result<String>) -> Result<String> {
    let mut r = attempt();
    for _ in 0..retries {
        if r.is_ok() {
            break;
        }
        std::thread::sleep(pause);
        r = attempt();
    }
    r
}

impl Drop for LoopFs {
    fn drop(&mut self) {
        if let Err(e) = self.teardown() {
            eprintln!("warning: {e:#}");
        }
    }
}

#[cfg(test)]
#[path = "loopfs_tests.rs"]
mod tests;
