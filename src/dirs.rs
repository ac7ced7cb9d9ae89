//! Output directories a command is told to fill (`--keep`, `--out`): made when missing, refused
//! when they already hold something, so that nothing a person kept is written over.

use std::path::Path;

use anyhow::{Context, Result};

/// Makes `dir` if it is missing; an error naming `flag` if it exists and is not an empty
/// directory (nothing in it is changed then).
pub fn new_or_empty(dir: &Path, flag: &str) -> Result<()> {
    match std::fs::read_dir(dir) {
        Ok(mut entries) => anyhow::ensure!(
            entries.next().is_none(),
            "{flag} {} exists and is not empty; name a new or empty directory (nothing in it was changed)",
            dir.display()
        ),
        Err(_) if dir.exists() || dir.is_symlink() => {
            anyhow::bail!("{flag} {} exists and is not a directory", dir.display())
        }
        Err(_) => {}
    }
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_missing_directory_is_made_and_a_full_one_is_left_alone() {
        let t = tempfile::tempdir().unwrap();
        let d = t.path().join("a/b");
        new_or_empty(&d, "--out").unwrap();
        assert!(d.is_dir());
        new_or_empty(&d, "--out").unwrap();
        std::fs::write(d.join("kept"), b"x").unwrap();
        let e = new_or_empty(&d, "--keep").unwrap_err().to_string();
        assert!(
            e.starts_with("--keep ") && e.contains("is not empty"),
            "{e}"
        );
        assert!(d.join("kept").exists());
        let f = t.path().join("file");
        std::fs::write(&f, b"x").unwrap();
        let e = new_or_empty(&f, "--out").unwrap_err().to_string();
        assert!(e.contains("is not a directory"), "{e}");
    }
}
