//! `cmd.txt`: how to reproduce a cell's run, with the versions of everything that ran.

use std::path::Path;

use anyhow::{Context, Result};

use super::options::CellOptions;
use crate::evidence::layout::{CMD_TXT, FIXTURE_DIR};
use crate::platform;
use crate::shell::shell_quote;

pub fn write_cmd(
    run: &Path,
    args: &CellOptions,
    commit: Option<&str>,
    commit_note: &str,
    base: &Path,
    mount: &platform::Mount,
) -> Result<()> {
    let seed = args.seed;
    let argv: Vec<String> = std::env::args().map(|a| shell_quote(&a)).collect();
    let ev = shell_quote(&args.evidence.display().to_string());
    let exe = std::env::current_exe()
        .map(|p| shell_quote(&p.display().to_string()))
        .unwrap_or_else(|_| "(unknown)".into());
    let step2 = if args.seed_steps_only {
        " --seed-steps-only".to_string()
    } else {
        format!(
            " --kills {} --explore-bound {}{}",
            args.kills,
            args.explore_bound,
            no_block_faults(args)
        )
    };
    let harness = if args.seed_steps_only {
        format!(
            "portability-matrix crash-harness --fault seed --seed {seed} --iterations {}",
            args.iterations
        )
    } else {
        crash_harness_line(args)
    };
    let fs = mount.fs_type.as_str();
    let block_replay = match (platform::arch(), fs) {
        ("amd64" | "arm64" | "s390x" | "riscv64", _)
            if crate::block_replay::host::FILESYSTEMS.contains(&fs) =>
        {
            format!(
            "# block replay alone (power loss on the real filesystem in a guest kernel), same seed:\n\
             portability-matrix block-replay --arch {} --fs {} --seed {seed} --subsets {} --keep DIR",
            platform::arch(),
            mount.fs_type,
            crate::block_replay::host::DEFAULT_SUBSETS
            )
        }
        (arch, fs) => format!(
            "# block replay: not for {arch}/{fs} ({} only)",
            crate::block_replay::host::FILESYSTEMS.join(", ")
        ),
    };
    let text = format!(
        "# How to reproduce this run. The seed drives every random choice of the crash harness.\n\
         # tool: portability-matrix {}\n\
         # `portability-matrix` below is this binary: {exe}\n\
         # (from a checkout: `make install` puts it on PATH, or run target/release/portability-matrix)\n\
         # host kernel: {}\n\
         # arch: {} ({}-endian); fs: {} on {} at {} (options {}; {})\n\
         # commit certified: {} ({commit_note})\n\
         # as invoked:\n\
         {}\n\
         # the same cell, explicitly:\n\
         portability-matrix cell --dir {} --evidence {ev} --iterations {} --seed {seed}{step2}\n\
         # step 2 alone, exactly as the cell ran it (iterations, kills, power-loss states):\n\
         {harness}\n\
         # step 2's kill -9 runs and power-loss exploration alone, same seed:\n\
         portability-matrix crash-harness --fault kill --kills {} --seed {seed}\n\
         portability-matrix crash-explore --workload standard --seed {seed} --bound {}{}\n\
         # verify this run's known-good fixture again:\n\
         portability-matrix verify --dir {}\n\
         {block_replay}\n",
        crate::build_info::VERSION_LINE,
        platform::kernel(),
        platform::arch(),
        platform::endian(),
        mount.fs_type,
        mount.source,
        mount.mount_point.display(),
        mount.options,
        mount.super_options,
        commit.unwrap_or("none"),
        argv.join(" "),
        shell_quote(&base.display().to_string()),
        args.iterations,
        args.kills,
        args.explore_bound,
        no_block_faults(args),
        shell_quote(&run.join(FIXTURE_DIR).display().to_string()),
    );
    std::fs::write(run.join(CMD_TXT), text)
        .with_context(|| format!("cannot write {}", run.join(CMD_TXT).display()))
}

/// The `crash-harness` command that runs step 2 exactly as the cell ran it.
pub fn crash_harness_line(args: &CellOptions) -> String {
    format!(
        "portability-matrix crash-harness --seed {} --iterations {} --kills {} --explore-bound {} --on-disk {}{}",
        args.seed,
        args.iterations,
        args.kills,
        args.explore_bound,
        CELL_ON_DISK_STATES,
        no_block_faults(args)
    )
}

/// The flag that turned block faults off, when it was given.
fn no_block_faults(args: &CellOptions) -> &'static str {
    if args.block_faults {
        ""
    } else {
        " --no-block-faults"
    }
}

/// Power-loss states a cell also checks on its real filesystem.
pub const CELL_ON_DISK_STATES: u64 = 100;
