//! `portability-matrix block-replay` and `replay-state`: block replay on its own, outside a
//! cell, printing what it found; and one replayed state rebuilt for inspection.

use std::path::Path;
use std::process::ExitCode;

use anyhow::{Context, Result};

use crate::block_replay::host::{self, Request};
use crate::block_replay::replay::StateSpec;
use crate::evidence::log::say;

pub fn run(req: &Request, out: Option<&Path>) -> Result<ExitCode> {
    eprintln!(
        "block-replay: {} guest, {}, seed {}, protocol {}",
        req.arch,
        req.fs,
        req.seed,
        req.protocol.name()
    );
    let section = host::run(req);
    let json = serde_json::to_string_pretty(&section)? + "\n";
    if let Some(p) = out {
        std::fs::write(p, &json).with_context(|| format!("cannot write {}", p.display()))?;
    }
    if let Some(r) = &section.run {
        if r.check_arch != r.guest_arch {
            say(&format!(
                "recorded by the {} guest, checked by the {} guest ({}, {})",
                r.guest_arch,
                r.check_arch,
                r.check_kernel.as_ref().map_or("?", |k| k.package.as_str()),
                r.check_accelerator
            ));
        }
        say(&format!(
            "block replay {}: {} in {:.1} s (record {:.1} s, check {:.1} s, {:.1} states/s)",
            r.fs,
            r.describe(),
            r.seconds,
            r.record_seconds,
            r.check_seconds,
            r.states_per_second
        ));
        for f in &r.failures {
            say(&format!(
                "FAIL state {} ({}): {}\n  rebuild: {}",
                f.state, f.check, f.msg, f.rebuild
            ));
        }
        if let Some(k) = &r.log_kept {
            say(&format!("logs kept in {k}"));
        }
    }
    if let Some(why) = &section.reason {
        eprintln!("block replay {}: {why}", section.status);
    }
    say(section.status);
    Ok(match section.status {
        "PASS" => ExitCode::SUCCESS,
        "FAIL" if section.run.is_some() => ExitCode::from(1),
        _ => ExitCode::from(2),
    })
}

pub fn rebuild(
    pristine: &Path,
    log: &Path,
    disk_bytes: u64,
    state: &StateSpec,
    out: &Path,
) -> Result<ExitCode> {
    host::rebuild(pristine, log, disk_bytes, state, out)?;
    Ok(ExitCode::SUCCESS)
}
