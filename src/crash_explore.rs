//! `portability-matrix crash-explore`: power-loss exploration of one workload, or the replay of
//! one crash state named by a reproducer.
//!
//! Exit codes: 0 no state violates anything (or the replayed state passes), 1 a violation (the
//! reproducers are printed), 2 the exploration could not run (for example a defective protocol
//! asked of a build without the `defects` feature).

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, Result};

use crate::crash::explore::{self, Options, Reproducer};
use crate::crash::replay;
use crate::evidence::log::{say, Screen};

/// What `crash-explore` runs, resolved from the command line.
pub struct ExploreRequest {
    /// The workload, seed, sector, bound and protocol; `on_disk` is filled in here.
    pub options: Options,
    /// States also checked on the filesystem holding `dir`.
    pub on_disk: u64,
    /// Where the on-disk states go (default: a temporary directory, kept when one fails).
    pub dir: Option<PathBuf>,
    /// One state to replay (`<crash point>:<fate>,…`), and where to keep its files.
    pub replay: Option<String>,
    pub keep: Option<PathBuf>,
    /// Explorations run (timing runs explore the same states again).
    pub repeat: u32,
    /// Where the summary goes as JSON.
    pub out: Option<PathBuf>,
}

fn print_reproducer(r: &Reproducer) {
    say(&format!("violation of {}: {}", r.check, r.msg));
    say(&format!(
        "  seed {}, crash point {} (after {})",
        r.seed, r.crash_point, r.after_op
    ));
    for c in &r.choices {
        say(&format!("  pending #{} {}: {}", c.op, c.what, c.fate));
    }
    say(&format!("  replay: {}", r.replay));
}

pub fn run(args: &ExploreRequest) -> Result<ExitCode> {
    let seed = args.options.seed;
    let workload = args.options.workload;
    // Without --dir, a temporary directory that is removed after a pass and kept when it holds a
    // failing state.
    let mut tmp = None;
    let on_disk = if args.on_disk > 0 {
        let base: PathBuf = match &args.dir {
            Some(d) => d.clone(),
            None => {
                let t = tempfile::Builder::new()
                    .prefix("pm-crash-explore-")
                    .tempdir()?;
                let p = t.path().to_path_buf();
                tmp = Some(t);
                p
            }
        };
        std::fs::create_dir_all(&base)
            .with_context(|| format!("cannot create {}", base.display()))?;
        Some((base, args.on_disk))
    } else {
        None
    };
    let opts = Options {
        on_disk,
        ..args.options.clone()
    };
    let mut log = Screen::new(false);
    if let Some(state) = &args.replay {
        say(&format!(
            "replaying state {state} of the {} workload, seed {seed}",
            workload.name()
        ));
        return Ok(
            match replay::replay(&opts, state, args.keep.as_deref(), &mut log)? {
                Some(r) => {
                    print_reproducer(&r);
                    ExitCode::from(1)
                }
                None => {
                    say("the state passes every check");
                    ExitCode::SUCCESS
                }
            },
        );
    }
    say(&format!(
        "crash explore: seed {seed}, {} workload, {} protocol",
        workload.name(),
        opts.protocol.name()
    ));
    let mut last = None;
    for _ in 0..args.repeat.max(1) {
        last = Some(explore::explore(&opts, &mut log)?);
    }
    let outcome = last.context("no exploration ran")?;
    let s = &outcome.summary;
    for r in &s.violations {
        print_reproducer(r);
    }
    if let Some(out) = &args.out {
        std::fs::write(out, serde_json::to_string_pretty(s)? + "\n")
            .with_context(|| format!("cannot write {}", out.display()))?;
    }
    if s.pass {
        return Ok(ExitCode::SUCCESS);
    }
    // Failing on-disk states stay where they were checked (passing ones are removed).
    if let Some(t) =
        tmp.filter(|t| std::fs::read_dir(t.path()).is_ok_and(|mut d| d.next().is_some()))
    {
        let kept = t.keep();
        say(&format!(
            "crash explore: the on-disk states are kept in {}",
            kept.display()
        ));
    }
    Ok(ExitCode::from(1))
}
