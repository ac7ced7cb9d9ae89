//! Running this binary again: the lock probe and the kill -9 writer are its own hidden
//! subcommands, started as child processes.
//!
//! Under `matrix`, a foreign binary may run through an explicit emulator (`qemu-aarch64-static
//! ./portability-matrix …`); its children must go through the same emulator, which the matrix
//! names in `PM_EXEC_WRAPPER`.

use std::process::Command;

/// Environment variable naming a command to run this binary through when it must spawn itself:
/// set by `matrix` when a foreign binary runs under an explicit emulator.
pub const EXEC_WRAPPER_ENV: &str = "PM_EXEC_WRAPPER";

/// A command that runs this binary again (through `PM_EXEC_WRAPPER` when it is set).
pub fn self_command() -> Result<Command, String> {
    let exe =
        std::env::current_exe().map_err(|e| format!("cannot find this binary to spawn it: {e}"))?;
    let wrapper = std::env::var(EXEC_WRAPPER_ENV)
        .ok()
        .filter(|w| !w.is_empty());
    Ok(match &wrapper {
        Some(w) => {
            let mut c = Command::new(w);
            c.arg(&exe);
            c
        }
        None => Command::new(&exe),
    })
}
