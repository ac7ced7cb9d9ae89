//! Crash states kept on disk, so that a binary of the other byte order can recover them.
//!
//! The WAL's format is little-endian by definition (`docs/wal-format.md`). A big-endian cell
//! shows that its own writer and reader agree, which a format written in native byte order
//! would pass too; it does not show that what a big-endian machine left behind after a crash
//! reads the same on a little-endian one. So the matrix has binaries of both byte orders leave
//! crash states in a directory ([`write_states`], the hidden `crash-states` command): the
//! directories kill -9 of a real writer process left, and the persistence model's power-loss
//! states (some struck by a block fault) written out as files. Each binary then recovers a copy
//! of every state ([`recover_states`], `recover-states`) and reports what it recovered: safe_seq,
//! the entries (count, range, SHA-256 over seq, length and payload of each) and the SHA-256 of
//! each file recovery left, or recovery's refusal. [`compare`] lists where two reports of the
//! same states differ; the matrix requires that there be nothing to list.

use std::collections::{BTreeMap, HashSet};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use anyhow::{Context, Result};
use rand::Rng;
use serde::{Deserialize, Serialize};
use wal::{Seq, Wal};

use super::explore::{materialize, model, state_hash, Options};
use super::kill::{copy_dir, kill_one, PER_DIR};
use super::narrate::Narrator;
use super::seeded;
use super::workload::{record, Protocol, Workload};
use crate::digest::{sha256_hex, Sha256Hex};

/// The file in a states directory that lists its states.
pub const MANIFEST: &str = "manifest.json";
/// Model states taken from each crash point before the even sample over all of them.
const PER_CRASH_POINT: u128 = 16;

/// What [`write_states`] writes.
#[derive(Debug, Clone)]
pub struct WriteRequest {
    /// A new or empty directory.
    pub out: PathBuf,
    pub seed: u64,
    /// kill -9 leftovers, each kept as its own state.
    pub kills: u32,
    /// The longest delay before a kill.
    pub max_delay_ms: u64,
    /// Power-loss states of the standard workload, as the model leaves them.
    pub power_states: u32,
    /// Power-loss states struck by a block fault (misdirected, stale or duplicated writes).
    pub damaged_states: u32,
}

/// `manifest.json`: who wrote the states, and each state's name and origin.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Manifest {
    pub writer_arch: String,
    pub byte_order: String,
    pub seed: u64,
    pub states: Vec<StateInfo>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct StateInfo {
    /// The state's directory, under the states directory.
    pub name: String,
    /// How it came about: the kill, or the model's state string (`crash-explore --replay`).
    pub origin: String,
}

/// Writes the crash states of `req` with this binary, which is `writer_arch` of `byte_order`.
/// `spawn` starts this same binary (the kill -9 writers are child processes).
pub fn write_states(
    req: &WriteRequest,
    writer_arch: &str,
    byte_order: &str,
    spawn: &dyn Fn() -> Result<Command, String>,
    log: &mut dyn Narrator,
) -> Result<Manifest> {
    crate::dirs::new_or_empty(&req.out, "--out")?;
    let mut states = kill_states(req, spawn, log)?;
    states.extend(model_states(req)?);
    let manifest = Manifest {
        writer_arch: writer_arch.into(),
        byte_order: byte_order.into(),
        seed: req.seed,
        states,
    };
    let path = req.out.join(MANIFEST);
    std::fs::write(&path, serde_json::to_vec_pretty(&manifest)?)
        .with_context(|| format!("cannot write {}", path.display()))?;
    log.line(&format!(
        "crash states: {} written by {writer_arch} ({byte_order}-endian) in {}",
        manifest.states.len(),
        req.out.display()
    ));
    Ok(manifest)
}

/// The leftovers of `req.kills` writers killed at seeded moments; every [`PER_DIR`] kills a
/// fresh directory, so a writer's recovery also runs on the previous kill's leftovers.
fn kill_states(
    req: &WriteRequest,
    spawn: &dyn Fn() -> Result<Command, String>,
    log: &mut dyn Narrator,
) -> Result<Vec<StateInfo>> {
    let work = req.out.join(".writers");
    let mut out = Vec::new();
    for i in 0..req.kills {
        let dir = work.join(format!("dir-{}", i / PER_DIR));
        if i % PER_DIR == 0 {
            std::fs::create_dir_all(&dir)
                .with_context(|| format!("cannot create {}", dir.display()))?;
        }
        let mut rng = seeded::stream(req.seed, seeded::STATES, u64::from(i));
        let delay = Duration::from_micros(rng.random_range(0..=req.max_delay_ms * 1000));
        let one = kill_one(spawn, &dir, req.seed, delay, false)?;
        if let Some(why) = one.failure {
            anyhow::bail!("kill {i}: {why}");
        }
        let name = format!("kill-{i:03}");
        copy_dir(&dir, &req.out.join(&name))?;
        log.line(&format!(
            "  {name}: {} after {:.1} ms, acknowledged up to seq {}",
            if one.killed { "SIGKILL" } else { "exited" },
            delay.as_secs_f64() * 1000.0,
            one.last_ack.max(one.started_at)
        ));
        out.push(StateInfo {
            name,
            origin: format!(
                "kill -9 {i} of a writer with seed {} after {:.1} ms (directory {} of {PER_DIR} kills)",
                req.seed,
                delay.as_secs_f64() * 1000.0,
                i / PER_DIR
            ),
        });
    }
    if work.exists() {
        std::fs::remove_dir_all(&work)
            .with_context(|| format!("cannot remove {}", work.display()))?;
    }
    Ok(out)
}

/// An even sample of the standard workload's distinct power-loss states, with and without a
/// block fault, written out as the model leaves them.
fn model_states(req: &WriteRequest) -> Result<Vec<StateInfo>> {
    let opts = Options {
        workload: Workload::Standard,
        seed: req.seed,
        sector: 512,
        bound: 0,
        protocol: Protocol::Real,
        on_disk: None,
        block_faults: true,
    };
    let rec = record(opts.workload, opts.seed)?;
    let trace = &rec.trace;
    let frs = model(&opts, &rec);
    let mut seen = HashSet::new();
    let (mut plain, mut damaged) = (Vec::new(), Vec::new());
    for fr in &frs {
        for (total, faulty) in [(fr.states(trace), false), (fr.fault_states(trace), true)] {
            let take = total.min(PER_CRASH_POINT);
            for j in 0..take {
                let index = j * total / take;
                let fates = if faulty {
                    fr.fault_fates(trace, index)
                } else {
                    fr.fates(trace, index)
                };
                let image = fr.image(trace, &fates);
                if seen.insert(state_hash(&image, fr)) {
                    let list = if faulty { &mut damaged } else { &mut plain };
                    list.push((fr.state_string(&fates), image));
                }
            }
        }
    }
    let mut out = Vec::new();
    for (prefix, list, n) in [
        ("power", &plain, req.power_states),
        ("damaged", &damaged, req.damaged_states),
    ] {
        for (i, (state, image)) in even_sample(list, n as usize).into_iter().enumerate() {
            let name = format!("{prefix}-{i:03}");
            materialize(image, &req.out.join(&name))?;
            out.push(StateInfo {
                name,
                origin: format!(
                    "power-loss state {state} of the standard workload, seed {} \
                     (portability-matrix crash-explore --workload standard --seed {} --replay {state})",
                    req.seed, req.seed
                ),
            });
        }
    }
    Ok(out)
}

fn even_sample<T>(list: &[T], n: usize) -> Vec<&T> {
    let n = n.min(list.len());
    (0..n).map(|j| &list[j * list.len() / n]).collect()
}

/// What one reader recovered from each state of a states directory.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Recoveries {
    pub reader_arch: String,
    pub byte_order: String,
    pub writer_arch: String,
    pub states: Vec<Recovered>,
}

impl Recoveries {
    /// The states recovery opened (the rest it refused as damaged).
    pub fn opened(&self) -> usize {
        self.states
            .iter()
            .filter(|s| matches!(s.outcome, Outcome::Opened { .. }))
            .count()
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Recovered {
    pub name: String,
    pub outcome: Outcome,
}

/// What recovery made of one state.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// Recovery opened the WAL.
    Opened {
        safe_seq: u64,
        entries: u64,
        first_seq: Option<u64>,
        last_seq: Option<u64>,
        /// SHA-256 over each entry's seq and payload length (u64, little-endian) and payload.
        entries_sha256: String,
        /// SHA-256 of each file recovery left in the directory.
        files: BTreeMap<String, String>,
    },
    /// Recovery refused the directory (damage), with its message; the directory's own path is
    /// written `<state>`.
    Refused { error: String },
}

impl Outcome {
    fn describe(&self) -> String {
        match self {
            Outcome::Opened {
                safe_seq,
                entries,
                entries_sha256,
                ..
            } => format!(
                "opened, safe_seq {safe_seq}, {entries} entries (sha256 {})",
                &entries_sha256[..12.min(entries_sha256.len())]
            ),
            Outcome::Refused { error } => format!("refused: {error}"),
        }
    }
}

/// Recovers a copy of every state `dir` lists (its `manifest.json`), with this binary, which is
/// `reader_arch` of `byte_order`. The states themselves are left as they are.
pub fn recover_states(dir: &Path, reader_arch: &str, byte_order: &str) -> Result<Recoveries> {
    let path = dir.join(MANIFEST);
    let text = std::fs::read(&path).with_context(|| {
        format!(
            "cannot read {}: name a directory `crash-states` wrote",
            path.display()
        )
    })?;
    let manifest: Manifest = serde_json::from_slice(&text)
        .with_context(|| format!("{} is not a crash-states manifest", path.display()))?;
    let scratch = tempfile::tempdir().context("cannot make a scratch directory")?;
    let mut states = Vec::new();
    for s in &manifest.states {
        anyhow::ensure!(
            !s.name.is_empty() && !s.name.contains(['/', '\\']) && !s.name.starts_with('.'),
            "{}: {:?} is not a state's directory name",
            path.display(),
            s.name
        );
        let copy = scratch.path().join(&s.name);
        copy_dir(&dir.join(&s.name), &copy)?;
        states.push(Recovered {
            name: s.name.clone(),
            outcome: recover_one(&copy)?,
        });
    }
    Ok(Recoveries {
        reader_arch: reader_arch.into(),
        byte_order: byte_order.into(),
        writer_arch: manifest.writer_arch,
        states,
    })
}

fn recover_one(dir: &Path) -> Result<Outcome> {
    let refused = |e: &dyn std::fmt::Display| Outcome::Refused {
        error: e.to_string().replace(&dir.display().to_string(), "<state>"),
    };
    let wal = match Wal::open(dir) {
        Ok(w) => w,
        Err(e) => return Ok(refused(&e)),
    };
    let mut h = Sha256Hex::default();
    let (mut n, mut first, mut last) = (0u64, None, None);
    for e in wal.read_from(Seq::ZERO) {
        let e = match e {
            Ok(e) => e,
            Err(e) => return Ok(refused(&e)),
        };
        h.update(&e.seq.get().to_le_bytes());
        h.update(&(e.payload.len() as u64).to_le_bytes());
        h.update(&e.payload);
        n += 1;
        first.get_or_insert(e.seq.get());
        last = Some(e.seq.get());
    }
    let safe_seq = wal.safe_seq().get();
    drop(wal);
    let mut files = BTreeMap::new();
    for e in std::fs::read_dir(dir).with_context(|| format!("cannot list {}", dir.display()))? {
        let e = e?;
        if e.file_type()?.is_file() {
            let bytes = std::fs::read(e.path())
                .with_context(|| format!("cannot read {}", e.path().display()))?;
            files.insert(
                e.file_name().to_string_lossy().into_owned(),
                sha256_hex(&bytes),
            );
        }
    }
    Ok(Outcome::Opened {
        safe_seq,
        entries: n,
        first_seq: first,
        last_seq: last,
        entries_sha256: h.finish(),
        files,
    })
}

/// Where two readers' recoveries of the same states differ, one line per state (empty when
/// they agree on every state).
pub fn compare(a: &Recoveries, b: &Recoveries) -> Vec<String> {
    let index = |r: &Recoveries| -> BTreeMap<String, Outcome> {
        r.states
            .iter()
            .map(|s| (s.name.clone(), s.outcome.clone()))
            .collect()
    };
    let (ia, ib) = (index(a), index(b));
    let mut out = Vec::new();
    for (name, oa) in &ia {
        match ib.get(name) {
            None => out.push(format!("{name}: {} did not recover it", b.reader_arch)),
            Some(ob) if ob != oa => out.push(format!(
                "{name}: {} {}; {} {}",
                a.reader_arch,
                oa.describe(),
                b.reader_arch,
                ob.describe()
            )),
            Some(_) => {}
        }
    }
    for name in ib.keys().filter(|n| !ia.contains_key(*n)) {
        out.push(format!("{name}: {} did not recover it", a.reader_arch));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn no_spawn() -> Result<Command, String> {
        Err("no writer in this test".into())
    }

    fn model_only(out: &Path) -> WriteRequest {
        WriteRequest {
            out: out.to_path_buf(),
            seed: 7,
            kills: 0,
            max_delay_ms: 0,
            power_states: 12,
            damaged_states: 4,
        }
    }

    fn write_model_states(out: &Path) -> Manifest {
        let quiet = &mut |_: &str| {};
        write_states(&model_only(out), "amd64", "little", &no_spawn, quiet).unwrap()
    }

    #[test]
    fn the_model_states_are_written_once_each_and_recover_the_same_twice() {
        let t = tempfile::tempdir().unwrap();
        let out = t.path().join("states");
        let m = write_model_states(&out);
        assert_eq!(m.states.len(), 16);
        assert!(m.states.iter().all(|s| out.join(&s.name).is_dir()));
        let a = recover_states(&out, "amd64", "little").unwrap();
        let b = recover_states(&out, "other", "big").unwrap();
        assert_eq!(a.states.len(), 16);
        assert!(a
            .states
            .iter()
            .any(|s| matches!(s.outcome, Outcome::Opened { entries, .. } if entries > 0)));
        assert_eq!(compare(&a, &b), Vec::<String>::new());
        // Recovery ran on copies: the states are as written.
        let again = recover_states(&out, "amd64", "little").unwrap();
        assert_eq!(a, again);
    }

    #[test]
    fn a_state_recovered_differently_is_named_with_both_outcomes() {
        let t = tempfile::tempdir().unwrap();
        let out = t.path().join("states");
        write_model_states(&out);
        let a = recover_states(&out, "amd64", "little").unwrap();
        // Another reader's recovery of one state gave one entry fewer.
        let mut b = a.clone();
        b.reader_arch = "s390x".into();
        let i = b
            .states
            .iter()
            .position(|s| matches!(s.outcome, Outcome::Opened { entries, .. } if entries > 0))
            .unwrap();
        if let Outcome::Opened { entries, .. } = &mut b.states[i].outcome {
            *entries -= 1;
        }
        let changed = b.states[i].name.clone();
        let j = if i == 0 { 1 } else { 0 };
        let removed = b.states.remove(j).name;
        let diff = compare(&a, &b);
        assert_eq!(diff.len(), 2, "{diff:?}");
        let line = |name: &str| {
            diff.iter()
                .find(|l| l.starts_with(&format!("{name}: ")))
                .unwrap()
        };
        assert!(line(&changed).contains(": amd64 opened"), "{diff:?}");
        assert!(line(&changed).contains("; s390x opened"), "{diff:?}");
        assert!(
            line(&removed).ends_with("s390x did not recover it"),
            "{diff:?}"
        );
    }

    #[test]
    fn a_directory_without_a_manifest_is_refused_with_what_to_name() {
        let t = tempfile::tempdir().unwrap();
        let e = recover_states(t.path(), "amd64", "little").unwrap_err();
        assert!(format!("{e:#}").contains("name a directory `crash-states` wrote"));
    }

    #[test]
    fn a_non_empty_directory_is_not_written_over() {
        let t = tempfile::tempdir().unwrap();
        std::fs::write(t.path().join("keep"), b"x").unwrap();
        let e = write_states(
            &model_only(t.path()),
            "amd64",
            "little",
            &no_spawn,
            &mut |_: &str| {},
        )
        .unwrap_err();
        assert!(e.to_string().contains("is not empty"));
        assert!(t.path().join("keep").exists());
    }

    #[test]
    fn a_manifest_naming_a_path_outside_is_refused() {
        let t = tempfile::tempdir().unwrap();
        let m = Manifest {
            writer_arch: "amd64".into(),
            byte_order: "little".into(),
            seed: 1,
            states: vec![StateInfo {
                name: "../etc".into(),
                origin: String::new(),
            }],
        };
        std::fs::write(t.path().join(MANIFEST), serde_json::to_vec(&m).unwrap()).unwrap();
        let e = recover_states(t.path(), "amd64", "little").unwrap_err();
        assert!(e.to_string().contains("is not a state's directory name"));
    }
}
