//! The matrix's additions to a cell's evidence.
//!
//! The cell records what it could see from inside (its architecture, the filesystem and mount
//! options under it, the host kernel). Only the matrix knows the rest: whether the binary ran
//! under an emulator and which, how the filesystem was made, and what was asked for. This adds
//! it to the cell's own files, so that every run directory stands on its own:
//! `wal_verify.json` gains the top-level keys `emulated`, `emulator`, `emulator_version`,
//! `image_size` and `matrix` (declared in `schemas/wal_verify.schema.json`), and `cmd.txt`
//! gains the provisioning commands, so the whole cell can be reproduced from it.
//!
//! The keys are inserted before the closing brace rather than by re-serializing, so the file
//! keeps the cell's key order (the seed document's keys first).

use std::path::{Path, PathBuf};

use anyhow::{bail, Context as _, Result};
use serde_json::{json, Value};

use super::cells::{Outcome, Request, Status};
use super::emulation::Exec;
use crate::evidence::record::MatrixSection;
use crate::shell::shell_quote;

/// How the cell's filesystem was provided (all `None` when it ran on an existing one).
#[derive(Debug, Clone, Default)]
pub struct Provisioning {
    pub image: Option<PathBuf>,
    pub device: Option<String>,
    pub mount_point: Option<PathBuf>,
    pub mkfs_version: Option<String>,
    /// The commands run, setup and teardown.
    pub commands: Vec<String>,
}

/// Everything the additions are made from.
pub struct Context<'a> {
    pub request: &'a Request<'a>,
    pub exec: &'a Exec,
    pub binary: &'a Path,
    pub wrapper: Option<&'a Path>,
    pub argv: &'a [String],
    pub provisioning: &'a Provisioning,
    pub outcome: &'a Outcome,
    pub status: Status,
    pub reason: Option<&'a str>,
}

/// The keys added to wal_verify.json, in order.
pub fn additions(c: &Context) -> Vec<(&'static str, Value)> {
    vec![
        ("emulated", json!(c.exec.emulated())),
        ("emulator", json!(c.exec.describe())),
        ("emulator_version", json!(c.outcome.emulator_version)),
        ("image_size", json!(c.outcome.image_size)),
        ("matrix", json!(matrix_section(c))),
    ]
}

/// The `matrix` section of a cell that ran.
fn matrix_section(c: &Context) -> MatrixSection {
    let r = c.request;
    let p = c.provisioning;
    let path = |p: &Path| p.display().to_string();
    MatrixSection {
        cell: r.index,
        requested_arch: r.arch.into(),
        requested_fs: r.fs.into(),
        status: c.status.word(),
        reason: c.reason.map(str::to_string),
        seed: r.seed,
        host_arch: r.host.arch.into(),
        host_kernel: r.host.kernel.clone(),
        execution: c.exec.kind(),
        binary: Some(path(c.binary)),
        filesystem: c.outcome.filesystem,
        image: p.image.as_deref().map(path),
        loop_device: p.device.clone(),
        mount_point: p.mount_point.as_deref().map(path),
        mkfs_version: p.mkfs_version.clone(),
        provisioning: p.commands.clone(),
        host_fixture_check: c.outcome.host_fixture_check.clone(),
        tool: crate::build_info::VERSION_LINE,
    }
}

/// Inserts `keys` into the JSON object `text` before its closing brace, keeping everything
/// else byte for byte. Fails when the text is not an object or already has one of the keys.
pub fn insert_keys(text: &str, keys: &[(&str, Value)]) -> Result<String> {
    let v: Value = serde_json::from_str(text).context("wal_verify.json is not valid JSON")?;
    let Some(obj) = v.as_object() else {
        bail!("wal_verify.json is not a JSON object");
    };
    for (k, _) in keys {
        if obj.contains_key(*k) {
            bail!("wal_verify.json already has the key {k:?}");
        }
    }
    let body = text.trim_end();
    let Some(inner) = body.strip_suffix('}') else {
        bail!("wal_verify.json does not end with a closing brace");
    };
    let inner = inner.trim_end();
    let mut out = inner.to_string();
    let mut first = obj.is_empty();
    for (k, val) in keys {
        if !first {
            out.push(',');
        }
        first = false;
        let pretty = serde_json::to_string_pretty(val)?.replace('\n', "\n  ");
        out.push_str(&format!("\n  {}: {pretty}", serde_json::to_string(k)?));
    }
    out.push_str("\n}\n");
    // The result must be the same object plus the new keys.
    let back: Value = serde_json::from_str(&out).context("the annotated file does not parse")?;
    let mut expect = obj.clone();
    for (k, val) in keys {
        expect.insert((*k).to_string(), val.clone());
    }
    anyhow::ensure!(
        back == Value::Object(expect),
        "the annotated file does not read back as the original plus the matrix's keys"
    );
    Ok(out)
}

fn write_atomically(path: &Path, text: &str) -> Result<()> {
    let tmp = path.with_extension("json.tmp");
    std::fs::write(&tmp, text).with_context(|| format!("cannot write {}", tmp.display()))?;
    std::fs::rename(&tmp, path).with_context(|| format!("cannot replace {}", path.display()))
}

/// The lines appended to cmd.txt.
pub fn cmd_lines(c: &Context) -> String {
    let r = c.request;
    let q = |p: &Path| shell_quote(&p.display().to_string());
    let mut s = String::new();
    s.push_str(&format!(
        "\n# ---- added by `portability-matrix matrix` ----\n\
         # matrix cell {}: {}/{} requested; seed {}; status {}{}\n\
         # host: {} ({}); execution: {}\n",
        r.index,
        r.arch,
        r.fs,
        r.seed,
        c.status.word(),
        c.reason.map(|x| format!(" ({x})")).unwrap_or_default(),
        r.host.arch,
        r.host.kernel,
        c.exec.describe().unwrap_or_else(|| "native".to_string()),
    ));
    let mut cell_cmd: Vec<String> = Vec::new();
    if let Some(w) = c.wrapper {
        cell_cmd.push(format!("{}={}", crate::self_exec::EXEC_WRAPPER_ENV, q(w)));
        cell_cmd.push(q(w));
    }
    cell_cmd.push(q(c.binary));
    let p = c.provisioning;
    if p.commands.is_empty() {
        s.push_str("# the cell ran on an existing filesystem (the temp dir), as run:\n");
        cell_cmd.extend(c.argv.iter().map(|a| shell_quote(a)));
        s.push_str(&cell_cmd.join(" "));
        s.push('\n');
    } else {
        s.push_str("# the filesystem was made, used and removed with these commands:\n");
        for l in &p.commands {
            s.push_str(&format!("#   {l}\n"));
        }
        s.push_str("# to reproduce the whole cell (as root):\n");
        let fs = shell_quote(r.fs);
        let image_size = c.outcome.image_size.unwrap_or(0);
        let mkfs = p
            .commands
            .iter()
            .find(|l| l.contains("mkfs"))
            .and_then(|l| p.image.as_ref().map(|i| l.replace(&q(i), "\"$d/img\"")))
            .unwrap_or_else(|| format!("mkfs.{fs} \"$d/img\""));
        s.push_str(&format!(
            "d=$(mktemp -d)\ntruncate -s {image_size} \"$d/img\"\n{mkfs}\n\
             dev=$(losetup --find --show \"$d/img\")\nmkdir \"$d/mnt\"\n\
             mount -t {fs} \"$dev\" \"$d/mnt\"\n"
        ));
        let mut args: Vec<String> = c.argv.iter().map(|a| shell_quote(a)).collect();
        if let Some(i) = args.iter().position(|a| a == "--dir") {
            args[i + 1] = "\"$d/mnt\"".into();
        }
        cell_cmd.extend(args);
        s.push_str(&cell_cmd.join(" "));
        s.push_str("\numount \"$d/mnt\"; losetup -d \"$dev\"; rm -r \"$d\"\n");
    }
    s.push_str("# or this cell through the matrix:\n");
    s.push_str(&r.rerun);
    s.push('\n');
    s
}

/// Adds the matrix's keys to `<run>/wal_verify.json` (when the cell wrote one) and the
/// provisioning to `<run>/cmd.txt`.
pub fn annotate(run: &Path, c: &Context) -> Result<()> {
    let cmd = run.join("cmd.txt");
    let mut text = std::fs::read_to_string(&cmd).unwrap_or_default();
    text.push_str(&cmd_lines(c));
    std::fs::write(&cmd, text).with_context(|| format!("cannot write {}", cmd.display()))?;
    let wv = run.join("wal_verify.json");
    if wv.exists() {
        let text = std::fs::read_to_string(&wv)
            .with_context(|| format!("cannot read {}", wv.display()))?;
        write_atomically(&wv, &insert_keys(&text, &additions(c))?)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inserted_keys_come_last_and_the_rest_is_kept_byte_for_byte() {
        let orig = "{\n  \"timestamp\": \"t\",\n  \"arch\": \"arm64\"\n}\n";
        let out = insert_keys(
            orig,
            &[("emulated", json!(true)), ("matrix", json!({"cell": 3}))],
        )
        .unwrap();
        assert!(out.starts_with("{\n  \"timestamp\": \"t\",\n  \"arch\": \"arm64\","));
        assert!(
            out.ends_with("\"matrix\": {\n    \"cell\": 3\n  }\n}\n"),
            "{out}"
        );
        let v: Value = serde_json::from_str(&out).unwrap();
        assert_eq!(v["emulated"], json!(true));
    }

    #[test]
    fn a_key_the_cell_already_wrote_is_refused() {
        let err = insert_keys("{\"emulated\": false}", &[("emulated", json!(true))]).unwrap_err();
        assert!(err.to_string().contains("already has"), "{err}");
    }

    #[test]
    fn a_file_that_is_not_an_object_is_refused() {
        assert!(insert_keys("[1, 2]", &[("x", json!(1))]).is_err());
        assert!(insert_keys("{\"a\": 1", &[("x", json!(1))]).is_err());
    }

    #[test]
    fn keys_are_added_to_an_empty_object() {
        let out = insert_keys("{}", &[("x", json!(1))]).unwrap();
        assert_eq!(
            serde_json::from_str::<Value>(&out).unwrap(),
            json!({"x": 1})
        );
    }
}
