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

use std::path::Path;

use anyhow::{bail, Context as _, Result};
use serde_json::{json, Value};

use super::cell_result::{CellOutcome, Provisioning};
use super::launch::CellCommand;
use super::request::CellRequest;
use crate::evidence::layout::{CMD_TXT, WAL_VERIFY};
use crate::shell::shell_quote;

/// Everything the additions are made from: the request, the command that ran, how the filesystem
/// was provided, and the cell's row with its verdict so far.
pub struct Annotation<'a> {
    pub request: &'a CellRequest<'a>,
    pub command: &'a CellCommand,
    pub provisioning: &'a Provisioning,
    pub outcome: &'a CellOutcome,
}

/// The keys added to wal_verify.json, in order.
pub fn additions(a: &Annotation) -> Vec<(&'static str, Value)> {
    let o = a.outcome;
    vec![
        ("emulated", json!(o.emulated)),
        ("emulator", json!(o.emulator)),
        ("emulator_version", json!(o.emulator_version)),
        ("image_size", json!(o.image_size)),
        ("matrix", json!(o.matrix_section(a.request, a.provisioning))),
    ]
}

/// Inserts `keys` into the JSON object `text` before its closing brace, keeping everything
/// else byte for byte. Fails when the text is not an object or already has one of the keys.
pub fn insert_keys(text: &str, keys: &[(&str, Value)]) -> Result<String> {
    let v: Value =
        serde_json::from_str(text).with_context(|| format!("{WAL_VERIFY} is not valid JSON"))?;
    let Some(obj) = v.as_object() else {
        bail!("{WAL_VERIFY} is not a JSON object");
    };
    for (k, _) in keys {
        if obj.contains_key(*k) {
            bail!("{WAL_VERIFY} already has the key {k:?}");
        }
    }
    let body = text.trim_end();
    let Some(inner) = body.strip_suffix('}') else {
        bail!("{WAL_VERIFY} does not end with a closing brace");
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
pub fn cmd_lines(a: &Annotation) -> String {
    let mut s = header_lines(a);
    if a.provisioning.commands.is_empty() {
        s.push_str("# the cell ran on an existing filesystem (the temp dir), as run:\n");
        let args = a.command.argv.iter().map(|x| shell_quote(x)).collect();
        s.push_str(&a.command.shell_line_with(args));
        s.push('\n');
    } else {
        s.push_str(&loop_reproduction(a));
    }
    s.push_str("# or this cell through the matrix:\n");
    s.push_str(&a.request.rerun);
    s.push('\n');
    s
}

/// What was requested, what came of it, and where it ran.
fn header_lines(a: &Annotation) -> String {
    let r = a.request;
    let o = a.outcome;
    format!(
        "\n# ---- added by `portability-matrix matrix` ----\n\
         # matrix cell {}: {}/{} requested; seed {}; status {}{}\n\
         # host: {} ({}); execution: {}\n",
        r.index,
        r.arch(),
        r.fs(),
        r.seed,
        o.status.word(),
        o.reason
            .as_deref()
            .map(|x| format!(" ({x})"))
            .unwrap_or_default(),
        r.host.arch,
        r.host.kernel,
        o.emulator.clone().unwrap_or_else(|| "native".to_string()),
    )
}

/// The provisioning commands as run, and a script that makes, uses and removes the same
/// filesystem again in a fresh temporary directory.
fn loop_reproduction(a: &Annotation) -> String {
    let p = a.provisioning;
    let q = |p: &Path| shell_quote(&p.display().to_string());
    let mut s = String::from("# the filesystem was made, used and removed with these commands:\n");
    for l in &p.commands {
        s.push_str(&format!("#   {l}\n"));
    }
    s.push_str("# to reproduce the whole cell (as root):\n");
    let fs = shell_quote(a.request.fs());
    let image_size = a.outcome.image_size.unwrap_or(0);
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
    let mut args: Vec<String> = a.command.argv.iter().map(|x| shell_quote(x)).collect();
    if let Some(i) = args.iter().position(|x| x == "--dir") {
        args[i + 1] = "\"$d/mnt\"".into();
    }
    s.push_str(&a.command.shell_line_with(args));
    s.push_str("\numount \"$d/mnt\"; losetup -d \"$dev\"; rm -r \"$d\"\n");
    s
}

/// Adds the matrix's keys to `<run>/wal_verify.json` (when the cell wrote one) and the
/// provisioning to `<run>/cmd.txt`.
pub fn annotate(run: &Path, a: &Annotation) -> Result<()> {
    let cmd = run.join(CMD_TXT);
    let mut text = std::fs::read_to_string(&cmd).unwrap_or_default();
    text.push_str(&cmd_lines(a));
    std::fs::write(&cmd, text).with_context(|| format!("cannot write {}", cmd.display()))?;
    let wv = run.join(WAL_VERIFY);
    if wv.exists() {
        let text = std::fs::read_to_string(&wv)
            .with_context(|| format!("cannot read {}", wv.display()))?;
        write_atomically(&wv, &insert_keys(&text, &additions(a))?)?;
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
