//! Skipping a test honestly: the reason is printed and recorded, and `scripts/test.sh` takes the
//! test out of the passed count, so a test that could not run here is never reported as passed.

/// Records that the calling test could not run here, and why; the caller then returns without
/// asserting anything. The test's name is the name of its thread (libtest names each test's
/// thread after the test).
pub fn skip(reason: &str) {
    let name = std::thread::current()
        .name()
        .unwrap_or("unknown test")
        .to_string();
    eprintln!("SKIP {name}: {reason}");
    if let Ok(log) = std::env::var("PM_SKIP_LOG") {
        use std::io::Write;
        if let Ok(mut f) = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(log)
        {
            let _ = writeln!(f, "{name}: {reason}");
        }
    }
}
