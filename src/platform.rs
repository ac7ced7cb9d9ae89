//! Where the binary is running: its architecture, the filesystem under a path, the kernel.
//!
//! Evidence is only worth something if it names what it really ran on, so nothing here is
//! assumed or taken from arguments: the architecture is the running binary's own (under QEMU
//! user emulation that is the emulated one), and the filesystem is read from the mount table
//! (`/proc/self/mountinfo`, the longest mount point that contains the path), cross-checked with
//! `statfs`. On tmpfs the evidence says tmpfs.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use serde::Serialize;

/// The running binary's architecture, by its Debian name (amd64, arm64, riscv64, s390x…).
pub fn arch() -> &'static str {
    debian_arch(std::env::consts::ARCH)
}

/// Maps Rust's `std::env::consts::ARCH` to the Debian architecture name.
pub fn debian_arch(rust_arch: &'static str) -> &'static str {
    match rust_arch {
        "x86_64" => "amd64",
        "x86" => "i386",
        "aarch64" => "arm64",
        "arm" => "armhf",
        "riscv64" => "riscv64",
        "s390x" => "s390x",
        "powerpc64" if cfg!(target_endian = "little") => "ppc64el",
        "powerpc64" => "ppc64",
        "loongarch64" => "loong64",
        "mips64" => "mips64el",
        other => other,
    }
}

/// The byte order of the running binary.
pub fn endian() -> &'static str {
    if cfg!(target_endian = "big") {
        "big"
    } else {
        "little"
    }
}

/// The mount holding a path.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct Mount {
    /// Filesystem type as the kernel names it (ext4, xfs, tmpfs, btrfs…).
    pub fs_type: String,
    /// The mount point.
    pub mount_point: PathBuf,
    /// The mounted device or source.
    pub source: String,
    /// Per-mount options (rw, relatime…), as in mountinfo.
    pub options: String,
    /// Superblock options (the filesystem's own: data=ordered, inode64…).
    pub super_options: String,
}

/// Finds the mount holding `path` (which must exist).
pub fn mount_of(path: &Path) -> Result<Mount> {
    let path = path
        .canonicalize()
        .with_context(|| format!("cannot resolve {}", path.display()))?;
    let table = std::fs::read_to_string("/proc/self/mountinfo")
        .context("cannot read /proc/self/mountinfo")?;
    let mount = mount_in_table(&table, &path)
        .with_context(|| format!("no mount in /proc/self/mountinfo holds {}", path.display()))?;
    Ok(mount)
}

/// The longest mount point in a mountinfo table that contains `path`.
pub fn mount_in_table(table: &str, path: &Path) -> Option<Mount> {
    let mut best: Option<Mount> = None;
    for line in table.lines() {
        // id parent major:minor root mount_point options [optional…] - fstype source super_options
        let (left, right) = line.split_once(" - ")?;
        let l: Vec<&str> = left.split(' ').collect();
        let r: Vec<&str> = right.split(' ').collect();
        if l.len() < 6 || r.len() < 3 {
            continue;
        }
        let mount_point = PathBuf::from(unescape(l[4]));
        if !path.starts_with(&mount_point) {
            continue;
        }
        // Later lines override earlier ones at the same mount point (stacked mounts).
        if best
            .as_ref()
            .is_some_and(|b| b.mount_point.as_os_str().len() > mount_point.as_os_str().len())
        {
            continue;
        }
        best = Some(Mount {
            fs_type: r[0].to_string(),
            mount_point,
            source: unescape(r[1]),
            options: l[5].to_string(),
            super_options: r[2].to_string(),
        });
    }
    best
}

/// mountinfo escapes space, tab, newline and backslash as octal.
fn unescape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let b = s.as_bytes();
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'\\'
            && i + 3 < b.len()
            && b[i + 1..i + 4].iter().all(|c| (b'0'..=b'7').contains(c))
        {
            let v = (b[i + 1] - b'0') * 64 + (b[i + 2] - b'0') * 8 + (b[i + 3] - b'0');
            out.push(v as char);
            i += 4;
        } else {
            out.push(b[i] as char);
            i += 1;
        }
    }
    out
}

/// The kernel release (`uname -r`) and machine of the host kernel. Under QEMU user emulation
/// this is the host's kernel, which is what really executes the filesystem calls.
pub fn kernel() -> String {
    match nix::sys::utsname::uname() {
        Ok(u) => format!(
            "{} {} {}",
            u.sysname().to_string_lossy(),
            u.release().to_string_lossy(),
            u.version().to_string_lossy()
        ),
        Err(e) => format!("unknown ({e})"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TABLE: &str = "\
22 1 254:0 / / rw,relatime shared:1 - ext4 /dev/vda rw,discard
30 22 0:26 / /tmp rw,nosuid,nodev shared:5 - tmpfs tmpfs rw,size=1024k
31 22 7:0 / /mnt/pm\\040cell rw,relatime - xfs /dev/loop0 rw,attr2,inode64
";

    #[test]
    fn longest_mount_point_wins() {
        let m = mount_in_table(TABLE, Path::new("/tmp/x/y")).unwrap();
        assert_eq!(m.fs_type, "tmpfs");
        assert_eq!(
            mount_in_table(TABLE, Path::new("/var/lib"))
                .unwrap()
                .fs_type,
            "ext4"
        );
        // /tmpfoo is not under /tmp.
        assert_eq!(
            mount_in_table(TABLE, Path::new("/tmpfoo")).unwrap().fs_type,
            "ext4"
        );
    }

    #[test]
    fn escaped_mount_points_are_matched() {
        let m = mount_in_table(TABLE, Path::new("/mnt/pm cell/wal")).unwrap();
        assert_eq!(m.fs_type, "xfs");
        assert_eq!(m.source, "/dev/loop0");
        assert_eq!(m.options, "rw,relatime");
        assert!(m.super_options.contains("inode64"));
    }

    #[test]
    fn arch_names_follow_debian() {
        assert_eq!(debian_arch("x86_64"), "amd64");
        assert_eq!(debian_arch("aarch64"), "arm64");
        assert_eq!(debian_arch("riscv64"), "riscv64");
        assert_eq!(debian_arch("s390x"), "s390x");
    }
}
