//! Where a cell's filesystem comes from: a fresh loop filesystem, the temp dir when it already is
//! the requested type, or nowhere (then the cell is SKIP, and the reason says what is missing).
//!
//! The decision is a pure function of what the host offers (root, a `mkfs.<fs>`, the temp dir's
//! type), so that every case can be tested without a loop device; `cells` carries it out.

use std::path::{Path, PathBuf};

/// Where a cell's filesystem comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FsPlan {
    Loop { mkfs: PathBuf },
    Existing { dir: PathBuf },
    Skip { reason: String },
}

/// Decides where the cell's filesystem comes from: a fresh loop filesystem when this is root
/// and `mkfs.<fs>` exists, else the temp dir when it already is that filesystem, else SKIP.
pub fn plan_fs(
    fs: &str,
    root: bool,
    mkfs: Option<PathBuf>,
    temp_dir: &Path,
    temp_fs: Option<&str>,
) -> FsPlan {
    match mkfs {
        Some(mkfs) if root => return FsPlan::Loop { mkfs },
        _ if temp_fs == Some(fs) => {
            return FsPlan::Existing {
                dir: temp_dir.to_path_buf(),
            }
        }
        _ => {}
    }
    let mut missing = Vec::new();
    if !root {
        missing.push("root (a loop device and a mount need it; run as root, e.g. sudo make portability-matrix-full)".to_string());
    }
    if mkfs.is_none() {
        missing.push(format!(
            "mkfs.{fs}, which is not installed ({}; scripts/install-matrix-deps.sh installs ext4 and xfs)",
            where_mkfs_comes_from(fs)
        ));
    }
    FsPlan::Skip {
        reason: format!(
            "a fresh {fs} filesystem needs {}; the temp dir {} is {} (set TMPDIR to a directory on {fs} to run there instead)",
            missing.join(" and "),
            temp_dir.display(),
            temp_fs.unwrap_or("of unknown type"),
        ),
    }
}

/// The package that installs `mkfs.<fs>`, from the filesystem table.
fn where_mkfs_comes_from(fs: &str) -> String {
    match crate::filesystems::by_name(fs).and_then(|f| f.package) {
        Some(package) => format!("{fs}: {package}"),
        None => format!("no package is known to install mkfs.{fs}"),
    }
}

#[cfg(test)]
#[path = "fs_plan_tests.rs"]
mod tests;
