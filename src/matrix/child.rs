//! The cell as a child process: started in its own process group, watched for Ctrl-C and for
//! its time limit, and ended with its whole group, so that nothing it started outlives it and
//! keeps its filesystem busy. Its stderr is passed through and its last lines kept, so that a
//! cell that dies before writing evidence still leaves a reason.

use std::io::BufRead;
use std::process::{Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use nix::sys::signal::{killpg, Signal};
use nix::unistd::Pid;

use super::interrupt;

pub enum Ending {
    Exited,
    Interrupted,
    TimedOut,
}

pub struct ChildEnd {
    pub status: ExitStatus,
    pub ending: Ending,
    pub stderr_tail: Vec<String>,
}

/// Runs the cell in its own process group and waits for it; on interrupt or timeout the whole
/// group gets SIGINT, and SIGKILL if it is still there 10 s later. Whatever the cell left
/// running in its group is killed when it ends, so nothing keeps the mount busy.
pub fn spawn_and_wait(mut cmd: Command, timeout: Option<Duration>) -> std::io::Result<ChildEnd> {
    use std::os::unix::process::CommandExt;
    cmd.process_group(0)
        .stdin(Stdio::null())
        .stderr(Stdio::piped());
    let mut child = cmd.spawn()?;
    let group = Pid::from_raw(child.id() as i32);
    let stderr = child.stderr.take();
    let reader = std::thread::spawn(move || {
        let mut tail: Vec<String> = Vec::new();
        for l in std::io::BufReader::new(stderr?)
            .lines()
            .map_while(Result::ok)
        {
            eprintln!("{l}");
            if tail.len() == 20 {
                tail.remove(0);
            }
            tail.push(l);
        }
        Some(tail)
    });
    let started = Instant::now();
    let mut ending = Ending::Exited;
    let mut signalled: Option<Instant> = None;
    let status = loop {
        if let Some(st) = child.try_wait()? {
            break st;
        }
        match signalled {
            None => {
                let timed_out = timeout.is_some_and(|t| started.elapsed() > t);
                if interrupt::interrupted() || timed_out {
                    ending = if timed_out {
                        Ending::TimedOut
                    } else {
                        Ending::Interrupted
                    };
                    let _ = killpg(group, Signal::SIGINT);
                    signalled = Some(Instant::now());
                }
            }
            Some(t) if t.elapsed() > Duration::from_secs(10) => {
                let _ = killpg(group, Signal::SIGKILL);
            }
            Some(_) => {}
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    // Stragglers of the cell's group (a lock probe, say) would keep the mount busy.
    let _ = killpg(group, Signal::SIGKILL);
    let stderr_tail = reader.join().ok().flatten().unwrap_or_default();
    Ok(ChildEnd {
        status,
        ending,
        stderr_tail,
    })
}

pub fn describe_exit(st: &ExitStatus) -> String {
    use std::os::unix::process::ExitStatusExt;
    match (st.code(), st.signal()) {
        (Some(c), _) => format!("exit {c}"),
        (None, Some(s)) => format!(
            "killed by {}",
            Signal::try_from(s).map_or(format!("signal {s}"), |s| s.to_string())
        ),
        _ => st.to_string(),
    }
}
