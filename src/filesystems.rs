//! The filesystems the tool knows, in one table: how to recognise one (its statfs magic), how
//! to make one on a fresh image file (mkfs options), and where its mkfs comes from (the Debian
//! package).
//!
//! A filesystem missing here still works where its `mkfs.<name>` exists: it is made with no
//! extra options and recognised from the mount table alone. Adding one is a row here; the
//! action's script asks the binary for the package (`portability-matrix fs-package NAME`).

use nix::sys::statfs::{self, FsType};

/// What the tool knows of one filesystem type.
pub struct Filesystem {
    /// The type as the mount table names it, and the `<name>` of `mkfs.<name>`.
    pub name: &'static str,
    /// statfs's `f_type`. ext2, ext3 and ext4 share one, so it is a cross-check of the mount
    /// table, not a replacement.
    pub magic: Option<FsType>,
    /// Options that make `mkfs.<name>` quiet and non-interactive on a fresh image file.
    pub mkfs_options: &'static [&'static str],
    /// The Debian package that installs `mkfs.<name>`, for those a cell can be made on.
    pub package: Option<&'static str>,
}

/// Every known filesystem; the first row with a magic names that magic.
pub const TABLE: &[Filesystem] = &[
    row(
        "ext4",
        statfs::EXT4_SUPER_MAGIC,
        &["-q", "-F"],
        Some("e2fsprogs"),
    ),
    row(
        "ext3",
        statfs::EXT3_SUPER_MAGIC,
        &["-q", "-F"],
        Some("e2fsprogs"),
    ),
    row(
        "ext2",
        statfs::EXT2_SUPER_MAGIC,
        &["-q", "-F"],
        Some("e2fsprogs"),
    ),
    row(
        "xfs",
        statfs::XFS_SUPER_MAGIC,
        &["-q", "-f"],
        Some("xfsprogs"),
    ),
    row(
        "btrfs",
        statfs::BTRFS_SUPER_MAGIC,
        &["-q", "-f"],
        Some("btrfs-progs"),
    ),
    Filesystem {
        name: "f2fs",
        magic: None, // nix does not name it on every target
        mkfs_options: &["-q", "-f"],
        package: Some("f2fs-tools"),
    },
    row("tmpfs", statfs::TMPFS_MAGIC, &[], None),
    row("overlay", statfs::OVERLAYFS_SUPER_MAGIC, &[], None),
    row("nfs", statfs::NFS_SUPER_MAGIC, &[], None),
    row("fuse", statfs::FUSE_SUPER_MAGIC, &[], None),
];

const fn row(
    name: &'static str,
    magic: FsType,
    mkfs_options: &'static [&'static str],
    package: Option<&'static str>,
) -> Filesystem {
    Filesystem {
        name,
        magic: Some(magic),
        mkfs_options,
        package,
    }
}

/// The row of `name`, if the tool knows it.
pub fn by_name(name: &str) -> Option<&'static Filesystem> {
    TABLE.iter().find(|f| f.name == name)
}

/// The options for `mkfs.<name>` (none for a filesystem the table does not know).
pub fn mkfs_options(name: &str) -> &'static [&'static str] {
    by_name(name).map(|f| f.mkfs_options).unwrap_or(&[])
}

/// The filesystem under `path` by statfs magic ("ext4" for the whole ext family), if known.
pub fn statfs_family(path: &std::path::Path) -> Option<&'static str> {
    let t = statfs::statfs(path).ok()?.filesystem_type();
    TABLE.iter().find(|f| f.magic == Some(t)).map(|f| f.name)
}

/// The hidden `fs-package` subcommand: prints the package of `mkfs.<name>`.
pub fn print_package(name: &str) -> anyhow::Result<std::process::ExitCode> {
    match by_name(name).and_then(|f| f.package) {
        Some(p) => {
            crate::evidence::log::say(p);
            Ok(std::process::ExitCode::SUCCESS)
        }
        None => anyhow::bail!(
            "there is no known package for mkfs.{name}; install it by hand (known: {})",
            TABLE
                .iter()
                .filter(|f| f.package.is_some())
                .map(|f| f.name)
                .collect::<Vec<_>>()
                .join(", ")
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_filesystem_a_cell_can_be_made_on_has_quiet_mkfs_options() {
        for f in TABLE.iter().filter(|f| f.package.is_some()) {
            assert!(f.mkfs_options.contains(&"-q"), "{}", f.name);
            assert!(crate::cell_id::is_name(f.name), "{}", f.name);
        }
        assert_eq!(mkfs_options("xfs"), ["-q", "-f"]);
        assert!(mkfs_options("zfs").is_empty());
    }

    #[test]
    fn the_temp_dir_is_recognised_by_its_magic() {
        // Whatever /tmp is here, statfs names a filesystem the mount table would also name,
        // or none at all: it never panics on a real path.
        if let Some(name) = statfs_family(&std::env::temp_dir()) {
            assert!(by_name(name).is_some());
        }
        assert_eq!(statfs_family(std::path::Path::new("/no/such/path")), None);
    }
}
