//! The verdict on a cell that ran: PASS only when the cell certified and its own evidence says it
//! ran on what was asked for (architecture, filesystem, the very mount made for it, the seed).

use std::path::Path;

use super::annotate::Provisioning;
use super::cells::{Outcome, Request, Status};
use super::child::{describe_exit, ChildEnd, Ending};

/// Reads the cell's wal_verify.json and decides PASS or FAIL.
pub fn judge(
    r: &Request,
    o: &mut Outcome,
    end: &ChildEnd,
    run_dir: Option<&Path>,
    new_runs: usize,
    prov: &Provisioning,
) -> (Status, Option<String>) {
    let exit = describe_exit(&end.status);
    let tail = || {
        let t = end.stderr_tail.join(" | ");
        if t.is_empty() {
            String::new()
        } else {
            format!(": {t}")
        }
    };
    match end.ending {
        Ending::Interrupted => return (Status::Fail, Some(format!("interrupted ({exit})"))),
        Ending::TimedOut => {
            return (
                Status::Fail,
                Some(format!(
                    "stopped after the cell timeout of {} s ({exit})",
                    r.timeout.map_or(0, |t| t.as_secs())
                )),
            )
        }
        Ending::Exited => {}
    }
    let Some(run_dir) = run_dir else {
        let why = if new_runs == 0 {
            format!("the cell wrote no evidence ({exit}){}", tail())
        } else {
            format!("{new_runs} new run directories appeared under the evidence tree during the cell; cannot tell which is this cell's")
        };
        return (Status::Fail, Some(why));
    };
    let path = run_dir.join("wal_verify.json");
    let v: serde_json::Value = match std::fs::read_to_string(&path)
        .map_err(anyhow::Error::from)
        .and_then(|t| serde_json::from_str(&t).map_err(anyhow::Error::from))
    {
        Ok(v) => v,
        Err(e) => {
            return (
                Status::Fail,
                Some(format!(
                    "the cell left no readable {} ({exit}): {e}{}",
                    path.display(),
                    tail()
                )),
            )
        }
    };
    let s = |k: &str| v.get(k).and_then(|x| x.as_str()).map(str::to_string);
    o.detected_arch = s("arch");
    o.detected_fs = s("fs_type");
    o.passed = v.get("passed").and_then(|x| x.as_u64()).map(|n| n as u32);
    if v.get("seed").and_then(|x| x.as_u64()) != Some(r.seed) {
        return (
            Status::Fail,
            Some(format!(
                "the cell's evidence does not carry the matrix seed {}",
                r.seed
            )),
        );
    }
    if o.detected_arch.as_deref() != Some(r.arch) {
        return (
            Status::Fail,
            Some(format!(
                "the binary ran as {}, not {}: a cell is never certified by a binary of another architecture",
                o.detected_arch.as_deref().unwrap_or("an unknown architecture"),
                r.arch
            )),
        );
    }
    if o.detected_fs.as_deref() != Some(r.fs) {
        return (
            Status::Fail,
            Some(format!(
                "the cell ran on {}, not {}",
                o.detected_fs.as_deref().unwrap_or("an unknown filesystem"),
                r.fs
            )),
        );
    }
    if let (Some(mp), Some(dev)) = (&prov.mount_point, &prov.device) {
        let m = v.get("mount");
        let got_mp = m
            .and_then(|m| m.get("mount_point"))
            .and_then(|x| x.as_str());
        let got_src = m.and_then(|m| m.get("source")).and_then(|x| x.as_str());
        if got_mp != Some(&mp.display().to_string()) || got_src != Some(dev.as_str()) {
            return (
                Status::Fail,
                Some(format!(
                    "the cell ran on {} from {}, not on the filesystem made for it ({} from {dev})",
                    got_mp.unwrap_or("?"),
                    got_src.unwrap_or("?"),
                    mp.display()
                )),
            );
        }
    }
    let pass = v.get("pass").and_then(|x| x.as_bool()) == Some(true);
    match end.status.code() {
        Some(0) if pass => (Status::Pass, None),
        Some(1) | Some(0) => {
            let failed: Vec<String> = v
                .get("steps")
                .and_then(|s| s.as_object())
                .map(|m| {
                    m.iter()
                        .filter(|(_, st)| st.get("pass").and_then(|p| p.as_bool()) != Some(true))
                        .map(|(k, st)| {
                            format!(
                                "{k}: {}",
                                st.get("msg").and_then(|x| x.as_str()).unwrap_or("")
                            )
                        })
                        .collect()
                })
                .unwrap_or_default();
            (
                Status::Fail,
                Some(format!(
                    "the cell did not certify ({exit}): {}",
                    failed.join("; ")
                )),
            )
        }
        _ => (
            Status::Fail,
            Some(format!(
                "the cell could not run to the end ({exit}){}",
                tail()
            )),
        ),
    }
}
