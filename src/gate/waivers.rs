//! Waivers: `edge/waivers/INV-NNN.toml`, one per file, each a signed-off, dated exception
//! that lets one failing gated cell through.
//!
//! A broken waiver must never silently unblock or block a release, so loading is all or
//! nothing: a file that does not parse, has an unknown key, misses a field, names a status
//! that does not exist, or whose name is not its `id`, and two files with one `id`, stop the
//! gate with an error naming the file (exit 2). Only `*.toml` files directly in the folder are
//! read; subfolders (such as `examples/`) and other files are not. Whether a waiver covers a
//! cell is decided in `decision.rs`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::{anyhow, bail, Context, Result};
use jiff::civil::Date;
use serde::Deserialize;

use super::observation::Status;
use crate::cell_id::CellId;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Waiver {
    pub id: String,
    pub cell: CellId,
    /// Failing invariant keys covered; empty covers any failure of the cell.
    pub invariants: Vec<String>,
    /// Statuses covered (FAIL unless the file says otherwise).
    pub statuses: Vec<Status>,
    pub reason: String,
    pub tracking: String,
    pub approved_by: String,
    pub created: Date,
    /// Valid through the end of this day, UTC.
    pub expires: Date,
    pub file: PathBuf,
}

/// The file format. Every field but `statuses` is required; `invariants = []` is how a waiver
/// says "any failure", so that leaving the field out is an error rather than a wide waiver.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct WaiverFile {
    id: String,
    cell: String,
    invariants: Vec<String>,
    #[serde(default = "default_statuses")]
    statuses: Vec<String>,
    reason: String,
    tracking: String,
    approved_by: String,
    created: DateField,
    expires: DateField,
}

fn default_statuses() -> Vec<String> {
    vec!["FAIL".into()]
}

/// A TOML date (`expires = 2026-06-30`) or a string holding one (`expires = "2026-06-30"`).
#[derive(Deserialize)]
#[serde(untagged)]
enum DateField {
    Toml(toml::value::Datetime),
    Text(String),
}

impl DateField {
    fn date(&self, field: &str) -> Result<Date> {
        let text = match self {
            DateField::Toml(dt) if dt.time.is_none() && dt.offset.is_none() => dt.to_string(),
            DateField::Toml(dt) => {
                bail!("`{field}` is {dt}; write a date only, such as 2026-06-30")
            }
            DateField::Text(s) => s.clone(),
        };
        let date: Date = text
            .parse()
            .map_err(|_| anyhow!("`{field}` is {text:?}; write a date such as 2026-06-30"))?;
        Ok(date)
    }
}

/// Whether `id` has the form INV-NNN (three or more digits).
fn is_waiver_id(id: &str) -> bool {
    id.strip_prefix("INV-")
        .is_some_and(|n| n.len() >= 3 && n.bytes().all(|b| b.is_ascii_digit()))
}

/// Parses one waiver file's text; `file` is its path, for messages and the name check.
pub fn parse(text: &str, file: &Path) -> Result<Waiver> {
    let f: WaiverFile = toml::from_str(text).context("it is not a valid waiver")?;
    if !is_waiver_id(&f.id) {
        bail!(
            "its id {:?} is not of the form INV-NNN (such as INV-007)",
            f.id
        );
    }
    let cell = CellId::parse(&f.cell).map_err(|e| anyhow!("its cell: {e}"))?;
    let mut statuses = Vec::new();
    for s in &f.statuses {
        match Status::parse(s) {
            Some(Status::Pass) => bail!("it lists the status PASS, which needs no waiver"),
            Some(st) => statuses.push(st),
            None => bail!(
                "it lists the status {s:?}; statuses are {}",
                Status::ALL
                    .iter()
                    .filter(|st| **st != Status::Pass)
                    .map(|st| st.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        }
    }
    if statuses.is_empty() {
        bail!("its `statuses` list is empty, so it would cover nothing; leave it out for FAIL");
    }
    if let Some(bad) = f.invariants.iter().find(|k| k.trim().is_empty()) {
        bail!("its `invariants` list holds an empty key {bad:?}");
    }
    for (name, value) in [
        ("reason", &f.reason),
        ("tracking", &f.tracking),
        ("approved_by", &f.approved_by),
    ] {
        if value.trim().is_empty() {
            bail!("its `{name}` is empty");
        }
    }
    let created = f.created.date("created")?;
    let expires = f.expires.date("expires")?;
    if expires < created {
        bail!("it expires ({expires}) before it was created ({created})");
    }
    Ok(Waiver {
        id: f.id,
        cell,
        invariants: f.invariants,
        statuses,
        reason: f.reason,
        tracking: f.tracking,
        approved_by: f.approved_by,
        created,
        expires,
        file: file.to_path_buf(),
    })
}

/// Loads every `*.toml` directly in `dir`, sorted by file name. Any bad file is an error.
pub fn load_dir(dir: &Path) -> Result<Vec<Waiver>> {
    let entries = std::fs::read_dir(dir)
        .with_context(|| format!("cannot read the waiver folder {}", dir.display()))?;
    let mut files = Vec::new();
    for e in entries {
        let e = e.with_context(|| format!("cannot read the waiver folder {}", dir.display()))?;
        let path = e.path();
        let is_toml = path.extension().is_some_and(|x| x == "toml");
        if is_toml && path.is_file() {
            files.push(path);
        }
    }
    files.sort();

    let mut by_id: BTreeMap<String, PathBuf> = BTreeMap::new();
    let mut waivers = Vec::new();
    for path in files {
        let text = std::fs::read_to_string(&path)
            .with_context(|| format!("cannot read the waiver {}", path.display()))?;
        let w = parse(&text, &path)
            .with_context(|| format!("the waiver {} is malformed", path.display()))?;
        if let Some(first) = by_id.insert(w.id.clone(), path.clone()) {
            bail!(
                "the waivers {} and {} have the same id {}; every waiver needs its own id",
                first.display(),
                path.display(),
                w.id
            );
        }
        let stem = path.file_stem().and_then(|s| s.to_str()).unwrap_or("");
        if stem != w.id {
            bail!(
                "the waiver {} has the id {}; rename the file to {}.toml or fix its id",
                path.display(),
                w.id,
                w.id
            );
        }
        waivers.push(w);
    }
    Ok(waivers)
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str = r#"
id = "INV-001"
cell = "riscv64/ext4"
invariants = ["R4_SAFESEQ_FRAME_EXISTS"]
reason = "QEMU's riscv64 fsync emulation loses the last frame; see the issue."
tracking = "https://github.com/org/portability-matrix/issues/12"
approved_by = "release-owner"
created = 2026-01-10
expires = 2026-03-31
"#;

    fn write(dir: &Path, name: &str, text: &str) {
        std::fs::write(dir.join(name), text).unwrap();
    }

    #[test]
    fn a_waiver_without_statuses_covers_fail_only() {
        let w = parse(GOOD, Path::new("INV-001.toml")).unwrap();
        assert_eq!(w.statuses, [Status::Fail]);
        assert_eq!(w.expires.to_string(), "2026-03-31");
        assert_eq!(w.cell.to_string(), "riscv64/ext4");
    }

    #[test]
    fn dates_may_be_toml_dates_or_strings_but_not_datetimes() {
        let s = GOOD.replace("expires = 2026-03-31", "expires = \"2026-03-31\"");
        assert_eq!(
            parse(&s, Path::new("x")).unwrap().expires.to_string(),
            "2026-03-31"
        );
        let s = GOOD.replace("expires = 2026-03-31", "expires = 2026-03-31T10:00:00Z");
        assert!(parse(&s, Path::new("x")).is_err());
        let s = GOOD.replace("expires = 2026-03-31", "expires = \"next spring\"");
        assert!(parse(&s, Path::new("x")).is_err());
    }

    #[test]
    fn a_waiver_missing_a_field_or_with_an_unknown_key_is_malformed() {
        for broken in [
            GOOD.replace("invariants = [\"R4_SAFESEQ_FRAME_EXISTS\"]\n", ""),
            GOOD.replace("approved_by = \"release-owner\"\n", ""),
            format!("{GOOD}statusses = [\"SKIP\"]\n"),
            format!("{GOOD}statuses = [\"BROKEN\"]\n"),
            format!("{GOOD}statuses = [\"PASS\"]\n"),
            format!("{GOOD}statuses = []\n"),
            GOOD.replace("INV-001", "WAIVER-1"),
            GOOD.replace("riscv64/ext4", "riscv64"),
            GOOD.replace("release-owner", " "),
            GOOD.replace("created = 2026-01-10", "created = 2026-04-01"),
            "id = ".to_string(),
        ] {
            assert!(
                parse(&broken, Path::new("INV-001.toml")).is_err(),
                "{broken}"
            );
        }
    }

    #[test]
    fn only_toml_files_directly_in_the_folder_are_loaded() {
        let d = tempfile::tempdir().unwrap();
        write(d.path(), "INV-001.toml", GOOD);
        write(d.path(), "README.md", "not a waiver");
        std::fs::create_dir(d.path().join("examples")).unwrap();
        write(&d.path().join("examples"), "INV-002.toml", "broken");
        let ws = load_dir(d.path()).unwrap();
        assert_eq!(ws.len(), 1);
        assert_eq!(ws[0].id, "INV-001");
    }

    #[test]
    fn a_file_name_that_is_not_the_id_stops_the_gate() {
        let d = tempfile::tempdir().unwrap();
        write(d.path(), "INV-009.toml", GOOD);
        let e = format!("{:#}", load_dir(d.path()).unwrap_err());
        assert!(e.contains("rename the file to INV-001.toml"), "{e}");
    }

    #[test]
    fn a_duplicate_id_stops_the_gate() {
        let d = tempfile::tempdir().unwrap();
        write(d.path(), "INV-001.toml", GOOD);
        write(d.path(), "INV-002.toml", GOOD);
        let e = format!("{:#}", load_dir(d.path()).unwrap_err());
        assert!(e.contains("have the same id INV-001"), "{e}");
    }

    #[test]
    fn a_malformed_file_stops_the_gate_and_names_the_file() {
        let d = tempfile::tempdir().unwrap();
        write(d.path(), "INV-001.toml", GOOD);
        write(d.path(), "INV-002.toml", "id = \"INV-002\"\n");
        let e = format!("{:#}", load_dir(d.path()).unwrap_err());
        assert!(e.contains("INV-002.toml is malformed"), "{e}");
    }
}
