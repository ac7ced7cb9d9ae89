//! How crash tests say what they are doing, without flooding a terminal.
//!
//! A cell kills a writer a hundred times and checks thousands of states; a line for each is
//! what the log file should keep, not what a person should scroll through. So crash code tells
//! apart the lines a person should see (summaries, violations and their replay commands) from
//! progress: one unit of work done, with where the step stands ("kill -9: 37/100, 24.1/s") and
//! what happened in that unit. The caller decides how to show progress: `Log` keeps every
//! detail in `autonomy.log` and shows one updating line on a terminal (every detail with
//! `--verbose`). A plain closure receives every line, details included.

/// Where crash tests report.
pub trait Narrator {
    /// A line a person should see.
    fn line(&mut self, s: &str);
    /// One unit of work done: `status` is where the step stands, `detail` what happened.
    fn progress(&mut self, status: &str, detail: &str);
}

impl<F: FnMut(&str)> Narrator for F {
    fn line(&mut self, s: &str) {
        self(s)
    }

    fn progress(&mut self, _status: &str, detail: &str) {
        self(detail)
    }
}

/// "37/100, 24.1/s": how far a step of `total` units is after `done`, `secs` into it.
pub fn rate(done: u64, total: u64, secs: f64) -> String {
    format!("{done}/{total}, {:.1}/s", done as f64 / secs.max(1e-9))
}
