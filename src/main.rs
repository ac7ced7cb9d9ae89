//! `portability-matrix`: the binary. Parses the command line (`cli`) and hands each subcommand
//! to its module; every module exposes one `run`. Errors are printed as sentences, with their
//! causes, and exit 2: "could not decide", as distinct from 1, "checked and failed".

use std::process::ExitCode;

use clap::Parser;

mod block_replay;
mod block_replay_cmd;
mod build_info;
mod cell;
mod cell_id;
mod cli;
mod coverage;
mod crash;
mod crash_explore;
mod crash_harness;
mod crash_states_cmd;
mod digest;
mod dirs;
mod evidence;
mod fault_harness;
mod faults;
mod filesystems;
mod gate;
mod generate;
mod git;
mod host_tools;
mod loopfs;
mod matrix;
mod platform;
mod self_exec;
mod shell;
mod verify;

use cli::{Cli, Command};

fn main() -> ExitCode {
    if block_replay::guest::is_guest() {
        block_replay::guest::main();
    }
    let cli = Cli::parse();
    let result = match &cli.command {
        Command::Cell(a) => cell::run(&a.to_options()),
        Command::Verify(a) => {
            verify::run(&a.dir, a.arch.as_deref(), a.fs.as_deref(), a.out.as_deref())
        }
        Command::CrashHarness(a) => crash_harness::run(&a.to_options()),
        Command::Generate(a) => generate::run(&a.dir, a.size, a.payload_bytes, a.batch),
        Command::CrashExplore(a) => crash_explore::run(&a.to_request()),
        Command::CrashWriter(a) => crash::kill::run_writer(&a.dir, a.seed, a.max_entries),
        Command::CrashStates(a) => crash_states_cmd::write(&a.to_request()),
        Command::RecoverStates(a) => {
            crash_states_cmd::recover(&a.dir, a.out.as_deref(), a.against.as_deref())
        }
        Command::FaultHarness(a) => fault_harness::run(
            a.seed.unwrap_or_else(crash::seeded::clock_seed),
            a.kind.to_kind(),
            a.dir.as_deref(),
            a.out.as_deref(),
            a.block_replay == cli::BlockReplayChoice::Auto,
        ),
        Command::FaultWriter(a) => faults::fsize::run_writer(&a.dir, a.seed, a.file_size_limit),
        Command::Gate(a) => a.to_config().and_then(|c| gate::run(&c)),
        Command::LockProbe(a) => cell::run_lock_probe(&a.dir),
        Command::Matrix(a) => matrix::run(&a.to_config()),
        Command::BlockReplay(a) => block_replay_cmd::run(&a.to_request(), a.out.as_deref()),
        Command::ReplayState(a) => {
            block_replay_cmd::rebuild(&a.pristine, &a.log, a.disk_bytes, &a.state, &a.out)
        }
        Command::FsPackage(a) => filesystems::print_package(&a.fs),
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(2)
        }
    }
}
