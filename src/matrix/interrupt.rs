//! Ctrl-C (and SIGTERM/SIGHUP) during a matrix run.
//!
//! The handler only raises a flag. The loop that waits for the running cell sees it, passes
//! SIGINT on to the cell's whole process group (the cell runs in its own group, so a signal
//! sent to the matrix alone still reaches it), waits for it to end, and then returns normally,
//! so the loop filesystem is unmounted, detached and deleted by the ordinary teardown path.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Once;

static INTERRUPTED: AtomicBool = AtomicBool::new(false);
static INSTALL: Once = Once::new();

/// Installs the handler (once per process). Failing to install it is reported, not fatal: the
/// teardown still runs on every other path.
pub fn install() {
    INSTALL.call_once(|| {
        if let Err(e) = ctrlc::set_handler(|| {
            if !INTERRUPTED.swap(true, Ordering::SeqCst) {
                eprintln!("matrix: interrupted; stopping the running cell and cleaning up");
            }
        }) {
            eprintln!("warning: cannot handle Ctrl-C ({e}); an interrupted run may leave its loop filesystem mounted");
        }
    });
}

/// Whether the user (or a supervisor) asked the run to stop.
pub fn interrupted() -> bool {
    INTERRUPTED.load(Ordering::SeqCst)
}
