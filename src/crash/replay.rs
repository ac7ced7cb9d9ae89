//! One crash state, rebuilt from its state string, described and checked: what a reproducer's
//! `--replay` runs. `--keep` also writes it to a directory, as the power cut left it and as
//! recovery leaves it, for `verify` and a person to look at.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};

use super::explore::{materialize, model, Options, Reproducer, StateChecker};
use super::narrate::Narrator;
use super::workload::record;

/// Writes a replayed state twice under `dir`, which must be new or empty: `crashed/` as the
/// power cut left it (what recovery starts from; `verify` reads it as it is, so leftovers past
/// safe_seq show there as violations), and `recovered/`, the same after the WAL's recovery ran
/// on it on this machine's filesystem (what `verify` must pass).
fn keep_state(
    image: &BTreeMap<PathBuf, Vec<u8>>,
    dir: &Path,
    log: &mut dyn Narrator,
) -> Result<()> {
    crate::dirs::new_or_empty(dir, "--keep")?;
    let crashed = dir.join("crashed");
    let recovered = dir.join("recovered");
    materialize(image, &crashed)?;
    materialize(image, &recovered)?;
    log.line(&format!(
        "the state as the power cut left it: {} (verify reads it without recovery, so leftovers past safe_seq are reported there)",
        crashed.display()
    ));
    match wal::Wal::open(&recovered) {
        Ok(w) => {
            drop(w);
            log.line(&format!(
                "the state after the WAL's recovery: {} (check it: portability-matrix verify --dir {})",
                recovered.display(),
                crate::shell::shell_quote(&recovered.display().to_string())
            ));
        }
        Err(e) => log.line(&format!(
            "recovery of {} failed: {e}; the directory holds what it left",
            recovered.display()
        )),
    }
    Ok(())
}

/// Rebuilds exactly one crash state, describes it, and checks it.
pub fn replay(
    opts: &Options,
    state: &str,
    keep: Option<&Path>,
    log: &mut dyn Narrator,
) -> Result<Option<Reproducer>> {
    let _protocol = opts.protocol.enable()?;
    let rec = record(opts.workload, opts.seed)?;
    let trace = &rec.trace;
    let (k, codes) = state
        .split_once(':')
        .with_context(|| format!("{state:?} is not a state (<crash point>:<fate>,…)"))?;
    let k: usize = k
        .parse()
        .with_context(|| format!("{k:?} is not a crash point number"))?;
    anyhow::ensure!(
        k <= trace.ops.len(),
        "crash point {k} is past the end of the trace ({} operations)",
        trace.ops.len()
    );
    let frs = model(opts, &rec);
    let fr = &frs[k];
    let fates = fr.parse_fates(trace, codes)?;
    let ctx = StateChecker {
        opts,
        trace,
        dir: &rec.dir,
    };
    log.line(&format!(
        "crash point {k} of {} operations; acknowledged up to seq {}, appended up to {}",
        trace.ops.len(),
        fr.acked,
        fr.issued
    ));
    for (i, op) in trace
        .ops
        .iter()
        .enumerate()
        .take(k)
        .skip(k.saturating_sub(8))
    {
        log.line(&format!("  done     #{i} {}", op.describe()));
    }
    for (op, what, fate) in fr.choices(trace, &fates) {
        let when = if fr.pending.iter().any(|p| p.op == op) {
            "pending"
        } else {
            "struck "
        };
        log.line(&format!("  {when}  #{op} {what}: {fate}"));
    }
    let image = fr.image(trace, &fates);
    for (p, b) in &image {
        log.line(&format!("  file {} ({} bytes)", p.display(), b.len()));
    }
    if let Some(dir) = keep {
        keep_state(&image, dir, log)?;
    }
    let damaged = fr.block_fault(&fates).is_some();
    if damaged {
        log.line("  a block fault damaged this state: recovery may refuse it as damage");
    }
    let c = ctx.check_mem(fr, &image, damaged);
    if c.refused {
        log.line("  recovery refused the damaged log and left it as it was");
    }
    Ok(c.finding.map(|f| ctx.reproducer(fr, &fates, f)))
}
