//! Turning evidence into `Observation`s: what a `wal_verify.json` says about its cell, and
//! where to find it, in a folder or in a downloaded artifact.
//!
//! Both sources end in the same function, `classify`, so the offline gate (`--evidence-dir`)
//! and the GitHub gate reach the same decision on the same evidence. A folder may hold the
//! evidence layout (`<arch>/<fs>/run-<N>/wal_verify.json`), the one `actions/download-artifact`
//! leaves (`portability-evidence-<arch>-<fs>/…/wal_verify.json`), or, from download-artifact v5
//! on, a single artifact's `run-<N>/wal_verify.json` itself, placed by the cell it names; an
//! artifact is a zip of one cell's evidence. In every case only the newest `run-<N>` counts: a
//! newer run that left no readable `wal_verify.json` is UNREADABLE, never replaced by an older
//! run that passed.
//!
//! A downloaded artifact's zip is opened by `archive.rs`, which uses `pick_newest` and
//! `classify` from here.

use std::collections::BTreeMap;
use std::io::Read;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};

use super::observation::{Observation, Status};
use super::target::Sha;
use crate::cell_id::CellId;
pub use crate::evidence::layout::ARTIFACT_PREFIX;
use crate::evidence::layout::{run_name, run_number, WAL_VERIFY as FILE};
use crate::evidence::view::Evidence;

/// What one source of evidence (a folder, a workflow run) yields: the cells' observations and
/// what the source has to say about them.
pub struct GatheredEvidence {
    pub observations: Vec<Observation>,
    /// Lines for the reader: duplicate artifacts, ignored artifacts…
    pub notes: Vec<String>,
    /// Where the evidence came from, in words.
    pub source: String,
}

/// The cell an artifact (or download-artifact folder) name stands for: `None` when the name
/// is not an evidence artifact's, an error when it is one but the rest is not "arch-fs".
pub fn cell_from_artifact_name(name: &str) -> Option<Result<CellId, String>> {
    let rest = name.strip_prefix(ARTIFACT_PREFIX)?;
    Some(match rest.split_once('-') {
        Some((arch, fs)) => CellId::new(arch, fs),
        None => Err(format!(
            "{name:?} does not end in <arch>-<fs>, such as {ARTIFACT_PREFIX}amd64-ext4"
        )),
    })
}

/// What one `wal_verify.json` says about `cell`, the cell it is filed under.
pub fn classify(json: &[u8], cell: &CellId, sha: Option<&Sha>, source: &str) -> Observation {
    judge(json, cell, sha, source).unwrap_or_else(|why| Observation::unreadable(cell, why, source))
}

/// `classify`, step by step; `Err` says why the evidence cannot be read.
fn judge(
    json: &[u8],
    cell: &CellId,
    sha: Option<&Sha>,
    source: &str,
) -> Result<Observation, String> {
    let e: Evidence =
        serde_json::from_slice(json).map_err(|err| format!("{FILE} is malformed: {err}"))?;
    check_filed_under(&e, cell)?;
    if let Some(note) = sha.and_then(|sha| staleness(&e, sha)) {
        return Ok(Observation::plain(cell, Status::Stale, note, source));
    }
    if e.skipped {
        let why = e.skip_reason.as_deref().unwrap_or("no reason given");
        let note = format!("skipped: {why}");
        return Ok(Observation::plain(cell, Status::Skip, note, source));
    }
    let (pass, mut failing) = failing_keys(&e)?;
    let run = e
        .run_n
        .map(|n| format!("{}: ", run_name(n)))
        .unwrap_or_default();
    if let Some(judged) = matrix_failure(&e) {
        failing.push("MATRIX".into());
        failing.sort();
        failing.dedup();
        return Ok(Observation::failed(
            cell,
            failing,
            format!("{run}{judged}"),
            source,
        ));
    }
    failing.sort();
    failing.dedup();
    match (pass, failing.is_empty()) {
        (true, true) => Ok(Observation {
            coverage: Some(e.coverage()),
            block_replay: e.block_replay.as_ref().map(|b| match b.status.as_deref() {
                Some("PASS") => Ok(()),
                _ => Err(b.summary()),
            }),
            ..Observation::plain(cell, Status::Pass, format!("{run}certified"), source)
        }),
        (true, false) => Err(format!(
            "{FILE} says pass but reports failures ({})",
            failing.join(", ")
        )),
        (false, _) => {
            let what = if failing.is_empty() {
                "a step failed (no invariant named)".to_string()
            } else {
                format!("failed: {}", failing.join(", "))
            };
            Ok(Observation::failed(
                cell,
                failing,
                format!("{run}{what}"),
                source,
            ))
        }
    }
}

/// The evidence names the cell it is filed under.
fn check_filed_under(e: &Evidence, cell: &CellId) -> Result<(), String> {
    let (Some(arch), Some(fs)) = (&e.arch, &e.fs_type) else {
        return Err(format!("{FILE} has no arch or fs_type"));
    };
    if *arch != cell.arch || *fs != cell.fs {
        return Err(format!(
            "{FILE} is evidence for {arch}/{fs}, but it is filed as {cell}"
        ));
    }
    Ok(())
}

/// Why the evidence may not be from the commit being released, if it may not.
fn staleness(e: &Evidence, sha: &Sha) -> Option<String> {
    match &e.commit {
        Some(c) if sha.matches(c) && e.commit_dirty == Some(true) => Some(format!(
            "evidence is from a working tree at {c} with uncommitted changes, not from {} alone; \
             run the cell again from a clean checkout",
            sha.as_str()
        )),
        Some(c) if sha.matches(c) => None,
        Some(c) => Some(format!("evidence is from commit {c}, not {}", sha.as_str())),
        None => Some(format!(
            "evidence records no commit, so it may not be from {}",
            sha.as_str()
        )),
    }
}

/// The cell's own verdict (`pass`) and the keys that failed: invariants, conformance checks
/// and `RENAME_ATOMIC`. An error when a key the decision needs is missing or malformed.
fn failing_keys(e: &Evidence) -> Result<(bool, Vec<String>), String> {
    let (Some(pass), Some(rename), Some(invariants)) = (e.pass, &e.rename_atomic, &e.invariants)
    else {
        return Err(format!("{FILE} lacks pass, rename_atomic or invariants"));
    };
    if let Some(k) = wal::verify::Invariant::ALL
        .iter()
        .map(|i| i.key())
        .find(|k| !invariants.contains_key(*k))
    {
        return Err(format!("{FILE} does not report the invariant {k}"));
    }
    let mut failing: Vec<String> = invariants
        .iter()
        .filter(|(_, c)| !c.pass)
        .map(|(k, _)| k.clone())
        .collect();
    failing.extend(
        e.conformance
            .iter()
            .filter(|c| !c.pass)
            .map(|c| c.id.clone()),
    );
    match rename.as_str() {
        "PASS" => {}
        "FAIL" => failing.push("RENAME_ATOMIC".into()),
        other => {
            return Err(format!(
                "{FILE} has rename_atomic {other:?}, neither PASS nor FAIL"
            ))
        }
    }
    Ok((pass, failing))
}

/// When a matrix ran the cell and judged it anything but PASS: what it said.
fn matrix_failure(e: &Evidence) -> Option<String> {
    let m = e.matrix.as_ref()?;
    let status = m.status.as_deref().unwrap_or("no status");
    if status == "PASS" {
        return None;
    }
    let why = m.reason.as_deref().unwrap_or("no reason given");
    Some(format!("the matrix judged the run {status}: {why}"))
}

/// Text on one line: control characters (newlines, escapes) become spaces. Everything taken
/// from evidence or a server goes through this before it is shown.
pub fn one_line(s: &str) -> String {
    s.chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect()
}

/// The first `max` bytes of a body, as one line of text.
#[cfg(feature = "github")]
pub fn excerpt(bytes: &[u8], max: usize) -> String {
    one_line(&String::from_utf8_lossy(&bytes[..bytes.len().min(max)]))
        .trim()
        .to_string()
}

/// The run number a path is filed under: its last `run-<N>` component.
fn run_of(path: &str) -> Option<u32> {
    path.split('/').filter_map(run_number).next_back()
}

/// Of the paths in an artifact or folder (relative, '/'-separated; files and folders alike), the
/// index of the newest run's `wal_verify.json`.
///
/// The newest run is the highest `run-<N>` anywhere among the paths, not the highest that holds
/// the file: a newer run without its file (a cell that died) makes the cell unreadable, however
/// good an older run was. Without any `run-<N>`, exactly one file must be there.
pub fn pick_newest(paths: &[String]) -> Result<usize, String> {
    let is_file = |p: &str| p == FILE || p.ends_with(&format!("/{FILE}"));
    let Some(newest) = paths.iter().filter_map(|p| run_of(p)).max() else {
        let files: Vec<usize> = (0..paths.len()).filter(|&i| is_file(&paths[i])).collect();
        return match files[..] {
            [] => Err(format!("no {FILE} in it")),
            [i] => Ok(i),
            _ => Err(format!(
                "{} {FILE} files and none under a run-<N> folder, so the newest is unknown",
                files.len()
            )),
        };
    };
    if let Some(p) = paths.iter().find(|p| is_file(p) && run_of(p).is_none()) {
        return Err(format!(
            "{p} is not under a run-<N> folder, so the newest run is unknown"
        ));
    }
    let files: Vec<usize> = (0..paths.len())
        .filter(|&i| is_file(&paths[i]) && run_of(&paths[i]) == Some(newest))
        .collect();
    match files[..] {
        [] => Err(format!(
            "the newest run, {}, has no {FILE} (an older run does not count)",
            run_name(newest)
        )),
        [i] => Ok(i),
        _ => Err(format!("more than one {FILE} for {}", run_name(newest))),
    }
}

/// Why a `wal_verify.json` over the entry cap is not read (`size`, when known), and what to do.
pub fn over_entry_cap(size: Option<u64>, cap: u64) -> String {
    let size = size.map(|n| format!("{n} bytes, ")).unwrap_or_default();
    format!(
        "{FILE} is {size}over the {cap}-byte cap (--max-entry-size; raise it if the file is \
         genuine)"
    )
}

/// When `path` failed with `e` because it is a symbolic link that does not resolve (a loop, or
/// a link to nothing): `what` said to be one.
fn unresolved_link(what: &str, path: &Path, e: &std::io::Error) -> Option<String> {
    let link = path
        .symlink_metadata()
        .is_ok_and(|m| m.file_type().is_symlink());
    link.then(|| {
        format!(
            "{what} is a symbolic link that cannot be resolved (a loop, or a link to nothing): {e}"
        )
    })
}

/// Reads a file of at most `cap` bytes.
fn read_capped(path: &Path, cap: u64) -> Result<Vec<u8>, String> {
    let f = std::fs::File::open(path).map_err(|e| match unresolved_link(FILE, path, &e) {
        Some(why) => format!("{why}; replace it with the file itself"),
        None => format!("cannot open {FILE}: {e}"),
    })?;
    let mut buf = Vec::new();
    f.take(cap + 1)
        .read_to_end(&mut buf)
        .map_err(|e| format!("cannot read {FILE}: {e}"))?;
    if buf.len() as u64 > cap {
        return Err(over_entry_cap(None, cap));
    }
    Ok(buf)
}

/// Every directory entry of `dir` that is a directory (symbolic links are not followed).
fn subdirs(dir: &Path) -> Result<Vec<(String, PathBuf)>> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).with_context(|| format!("cannot read {}", dir.display()))? {
        let e = e.with_context(|| format!("cannot read {}", dir.display()))?;
        let ty = e
            .file_type()
            .with_context(|| format!("cannot read {}", dir.display()))?;
        if let (true, Some(name)) = (ty.is_dir(), e.file_name().to_str()) {
            if !name.starts_with('.') {
                out.push((name.to_string(), e.path()));
            }
        }
    }
    out.sort();
    Ok(out)
}

/// Every file and folder under `dir`, as '/'-separated paths relative to it.
fn find_files(dir: &Path, prefix: &str, depth: u32, out: &mut Vec<String>) -> Result<()> {
    for e in std::fs::read_dir(dir).with_context(|| format!("cannot read {}", dir.display()))? {
        let e = e.with_context(|| format!("cannot read {}", dir.display()))?;
        let ty = e
            .file_type()
            .with_context(|| format!("cannot read {}", dir.display()))?;
        let Some(name) = e.file_name().to_str().map(str::to_string) else {
            continue;
        };
        let rel = format!("{prefix}{name}");
        if ty.is_dir() && depth > 0 {
            find_files(&e.path(), &format!("{rel}/"), depth - 1, out)?;
        }
        // A linked wal_verify.json is a candidate, so that a broken link is reported as one.
        if ty.is_dir() || ty.is_file() || (ty.is_symlink() && name == FILE) {
            out.push(rel);
        }
    }
    Ok(())
}

/// Each cell found in a folder: the folder its candidate files are relative to, and the files.
#[derive(Default)]
struct FolderCells(BTreeMap<CellId, (PathBuf, Vec<String>)>);

impl FolderCells {
    /// Files `cell` under `base`. The same cell in two places is an error: which one is the
    /// evidence would be a guess.
    fn claim(&mut self, cell: CellId, base: PathBuf, files: Vec<String>) -> Result<()> {
        if let Some((first, _)) = self.0.get(&cell) {
            bail!(
                "the evidence for {cell} is in both {} and {}; keep one",
                first.display(),
                base.display()
            );
        }
        self.0.insert(cell, (base, files));
        Ok(())
    }

    /// The cells of the evidence layout under `arch_dir`: `<fs>/run-<N>/`. Folders without
    /// runs are not cells. Only the newest run counts; without its file the cell is unreadable
    /// (`pick_newest` says so), however good an older run was.
    fn claim_layout(&mut self, arch: &str, arch_dir: &Path) -> Result<()> {
        for (fs, fs_path) in subdirs(arch_dir)? {
            let newest = subdirs(&fs_path)?
                .into_iter()
                .filter_map(|(r, _)| run_number(&r).map(|n| (n, r)))
                .max();
            let (Some((_, newest)), Ok(cell)) = (newest, CellId::new(arch, &fs)) else {
                continue;
            };
            let run_dir = fs_path.join(newest);
            let files = if run_dir.join(FILE).symlink_metadata().is_ok() {
                vec![FILE.to_string()]
            } else {
                vec![]
            };
            self.claim(cell, run_dir, files)?;
        }
        Ok(())
    }

    /// The cell of a folder `actions/download-artifact` left: every file in it is a candidate.
    fn claim_artifact_folder(&mut self, cell: CellId, dir: PathBuf) -> Result<()> {
        let mut files = Vec::new();
        find_files(&dir, "", 8, &mut files)?;
        files.sort();
        self.claim(cell, dir, files)
    }

    /// The cell of a single artifact that `actions/download-artifact` v5 and later flattened
    /// into `root` itself: `run-<N>/` at its top. A root named after an artifact says the cell
    /// (so evidence for another is caught); otherwise the newest run whose `wal_verify.json`
    /// names its `arch` and `fs_type` does, and a newer run without one is still its newest.
    fn claim_flattened(&mut self, root: &Path, runs: &[String], cap: u64) -> Result<()> {
        let mut files = runs.to_vec();
        for r in runs {
            find_files(&root.join(r), &format!("{r}/"), 8, &mut files)?;
        }
        files.sort();
        let named = root.canonicalize().ok().and_then(|p| {
            let name = p.file_name()?.to_str()?.to_string();
            cell_from_artifact_name(&name)
        });
        let cell = match named {
            Some(Ok(cell)) => cell,
            Some(Err(e)) => bail!("{e}"),
            None => match cell_named_by_runs(root, runs, cap) {
                Some(cell) => cell,
                None => bail!(
                    "{} holds run-<N> folders itself, as download-artifact v5 and later leave a \
                     single artifact, but no {FILE} in them names its arch and fs_type; download \
                     into a folder named after the artifact ({ARTIFACT_PREFIX}<arch>-<fs>)",
                    root.display()
                ),
            },
        };
        self.claim(cell, root.to_path_buf(), files)
    }
}

/// The cell named by the newest readable `wal_verify.json` among `runs` (folders of `root`).
fn cell_named_by_runs(root: &Path, runs: &[String], cap: u64) -> Option<CellId> {
    let mut runs: Vec<(u32, &String)> = runs
        .iter()
        .filter_map(|r| Some((run_number(r)?, r)))
        .collect();
    runs.sort();
    runs.iter().rev().find_map(|(_, r)| {
        let json = read_capped(&root.join(r).join(FILE), cap).ok()?;
        let e: Evidence = serde_json::from_slice(&json).ok()?;
        CellId::new(e.arch.as_deref()?, e.fs_type.as_deref()?).ok()
    })
}

/// An error saying what is wrong with `root` and what to do, unless it is a folder.
fn check_root(root: &Path) -> Result<()> {
    let shown = format!("the evidence folder {}", root.display());
    match std::fs::metadata(root) {
        Ok(m) if m.is_dir() => Ok(()),
        Ok(_) => bail!("{shown} is not a folder; give --evidence-dir the folder that holds it"),
        Err(e) => match unresolved_link(&shown, root, &e) {
            Some(why) => bail!("{why}; give --evidence-dir the folder itself"),
            None if e.kind() == std::io::ErrorKind::NotFound => {
                bail!("{shown} does not exist; check the path given to --evidence-dir")
            }
            None => bail!("cannot read {shown}: {e}"),
        },
    }
}

/// What a folder of evidence says, in any layout. The same cell in two places is an error:
/// which one is the evidence would be a guess.
pub fn read_dir(root: &Path, sha: Option<&Sha>, entry_cap: u64) -> Result<Vec<Observation>> {
    check_root(root)?;
    let mut found = FolderCells::default();
    let mut runs = Vec::new();
    for (name, path) in subdirs(root)? {
        if run_number(&name).is_some() {
            runs.push(name);
            continue;
        }
        match cell_from_artifact_name(&name) {
            Some(Ok(cell)) => found.claim_artifact_folder(cell, path)?,
            Some(Err(e)) => bail!("in {}: {e}", root.display()),
            None => found.claim_layout(&name, &path)?,
        }
    }
    if !runs.is_empty() {
        found.claim_flattened(root, &runs, entry_cap)?;
    }
    let observations = found
        .0
        .into_iter()
        .map(|(cell, (base, files))| observe_folder(&cell, &base, &files, sha, entry_cap))
        .collect();
    Ok(observations)
}

/// What the newest `wal_verify.json` among a cell's candidate files says.
fn observe_folder(
    cell: &CellId,
    base: &Path,
    files: &[String],
    sha: Option<&Sha>,
    entry_cap: u64,
) -> Observation {
    match pick_newest(files) {
        Err(why) => Observation::unreadable(cell, why, &base.display().to_string()),
        Ok(i) => {
            let path = base.join(&files[i]);
            let source = path.display().to_string();
            match read_capped(&path, entry_cap) {
                Ok(bytes) => classify(&bytes, cell, sha, &source),
                Err(why) => Observation::unreadable(cell, why, &source),
            }
        }
    }
}

#[cfg(test)]
#[path = "evidence_tests.rs"]
mod tests;
