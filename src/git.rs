//! The commit a local run certifies, read from the git checkout it runs in.
//!
//! In CI the certified commit comes from `--commit` or `GITHUB_SHA`. Locally nobody passes it,
//! and evidence that records no commit is STALE to any gate that asks for one, so a local
//! `make portability-matrix` then `make gate` could never pass. When the current directory is
//! a git checkout whose HEAD is the commit this binary was built from, that commit is certified,
//! and whether tracked files had uncommitted changes is recorded beside it: such evidence is
//! not evidence for the commit alone. A checkout at another commit than the binary's certifies
//! nothing: the binary did not come from it.

use std::process::Command;

/// The commit of the checkout in the current directory, as far as it can be certified.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Checkout {
    /// HEAD is the binary's own commit; `dirty` when tracked files differ from it.
    Commit { sha: String, dirty: bool },
    /// No commit can be claimed, and why (not a checkout, no git, another commit).
    Unknown(String),
}

/// Reads the checkout in the current directory, if any.
pub fn checkout(binary_commit: &str) -> Checkout {
    let head = match git(&["rev-parse", "HEAD"]) {
        Ok(h) => h,
        Err(why) => return Checkout::Unknown(why),
    };
    if head != binary_commit {
        return Checkout::Unknown(format!(
            "this checkout is at {head} but the binary was built from {binary_commit}; rebuild it (make build) to certify {head}"
        ));
    }
    match git(&["status", "--porcelain", "--untracked-files=no"]) {
        Ok(changes) => Checkout::Commit {
            sha: head,
            dirty: !changes.is_empty(),
        },
        Err(why) => Checkout::Unknown(why),
    }
}

fn git(args: &[&str]) -> Result<String, String> {
    let out = Command::new("git")
        .args(args)
        .output()
        .map_err(|e| format!("git could not be run: {e}"))?;
    if !out.status.success() {
        return Err("the current directory is not a git checkout".into());
    }
    Ok(String::from_utf8_lossy(&out.stdout).trim().to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_checkout_at_another_commit_than_the_binary_certifies_nothing() {
        // Whatever this directory is, a made-up binary commit never matches its HEAD.
        match checkout("0000000000000000000000000000000000000000") {
            Checkout::Unknown(why) => assert!(!why.is_empty()),
            c => panic!("{c:?}"),
        }
    }
}
