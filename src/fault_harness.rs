//! `portability-matrix fault-harness`: a cell's fault step on its own, or one kind of it.
//!
//! The faults themselves live in [`crate::faults`]. This command runs them in a directory (the
//! full disk is made of the filesystem type holding it), prints what they find with the command
//! that replays it, and writes the `faults` section as JSON on request. Every limit, slack and
//! plan comes from the seed, so `--seed S --kind K` replays what a cell with seed S ran.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, Result};

use crate::evidence::log::{say, Screen};
use crate::faults::{run_faults, Kind};
use crate::self_exec::self_command;

pub fn run(
    seed: u64,
    only: Option<Kind>,
    dir: Option<&Path>,
    out: Option<&Path>,
    guest: bool,
) -> Result<ExitCode> {
    say(&format!("fault harness: seed {seed}"));
    let mut tmp = None;
    let root: PathBuf = match dir {
        Some(d) => {
            std::fs::create_dir_all(d).with_context(|| format!("cannot create {}", d.display()))?;
            d.to_path_buf()
        }
        None => {
            let t = tempfile::Builder::new()
                .prefix("pm-fault-harness-")
                .tempdir()?;
            let p = t.path().to_path_buf();
            tmp = Some(t);
            p
        }
    };
    let fs = crate::platform::mount_of(&root)?.fs_type;
    let section = run_faults(
        seed,
        only,
        &root,
        &fs,
        guest,
        &self_command,
        &mut Screen::new(true),
    );
    if let Some(out) = out {
        std::fs::write(out, serde_json::to_string_pretty(&section)? + "\n")
            .with_context(|| format!("cannot write {}", out.display()))?;
    }
    say(&format!(
        "fault harness: {} (seed {seed})",
        if section.pass { "PASS" } else { "FAIL" }
    ));
    if !section.pass {
        if let Some(t) = tmp {
            say(&format!(
                "fault harness: the failing writers' directories are kept in {}",
                t.keep().display()
            ));
        }
        return Ok(ExitCode::from(1));
    }
    Ok(ExitCode::SUCCESS)
}
