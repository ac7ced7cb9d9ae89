//! The phase policy: which cells gate a release, which only warn, which are only reported.
//!
//! A policy is a small TOML file (three lists of "arch/fs" cells), so a repository can write
//! down its own governance; the two built-in phases are such files too (`policies/`), compiled
//! in. Cells a policy does not name are informational. docs/gate.md has the format and why the
//! built-ins assign the seed's six cells the way they do.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::path::Path;

use anyhow::{bail, Context, Result};
use serde::{Deserialize, Serialize, Serializer};

use crate::cell_id::CellId;
use crate::coverage::Minimums;

/// The built-in policies, by name (`--policy phase1`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Phase {
    /// Cells 1 and 3 gated; 2 and 5 informational; 4 and 6 optional.
    Phase1,
    /// Cells 1-5 gated; 6 optional.
    Phase2,
}

/// What a cell's evidence means for the release.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Requirement {
    /// The cell must be PASS (or waived) for the release to proceed.
    Gated,
    /// A failure is a warning; it never blocks.
    Informational,
    /// Reported only.
    Optional,
}

impl fmt::Display for Requirement {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Requirement::Gated => "gated",
            Requirement::Informational => "informational",
            Requirement::Optional => "optional",
        })
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Policy {
    pub name: String,
    pub description: String,
    #[serde(serialize_with = "cells_as_strings")]
    cells: BTreeMap<CellId, Requirement>,
    /// The crash testing a cell's evidence must show to pass: the documented minimums, or
    /// higher ones the policy file sets.
    pub minimums: Minimums,
    /// Cells whose evidence must show block replay PASS (`require_block_replay`); `*` is every
    /// cell.
    #[serde(serialize_with = "cells_as_string_list")]
    block_replay: BTreeSet<CellOrAll>,
}

/// A cell, or every cell (`*`).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
enum CellOrAll {
    All,
    Cell(CellId),
}

impl fmt::Display for CellOrAll {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CellOrAll::All => f.write_str("*"),
            CellOrAll::Cell(c) => write!(f, "{c}"),
        }
    }
}

fn cells_as_string_list<S: Serializer>(
    cells: &BTreeSet<CellOrAll>,
    s: S,
) -> Result<S::Ok, S::Error> {
    s.collect_seq(cells.iter().map(|c| c.to_string()))
}

fn cells_as_strings<S: Serializer>(
    cells: &BTreeMap<CellId, Requirement>,
    s: S,
) -> Result<S::Ok, S::Error> {
    s.collect_map(cells.iter().map(|(c, r)| (c.to_string(), r)))
}

/// The file format.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PolicyFile {
    name: String,
    #[serde(default)]
    description: String,
    #[serde(default)]
    gated: Vec<String>,
    #[serde(default)]
    informational: Vec<String>,
    #[serde(default)]
    optional: Vec<String>,
    /// Cells (or `*`) whose evidence must show block replay PASS.
    #[serde(default)]
    require_block_replay: Vec<String>,
    /// `[minimums]`: raises any of the documented minimums (never lowers one).
    #[serde(default)]
    minimums: MinimumsFile,
}

#[derive(Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct MinimumsFile {
    iterations: Option<u32>,
    kills: Option<u32>,
    power_loss_states: Option<u64>,
}

impl MinimumsFile {
    fn resolve(&self, origin: &str) -> Result<Minimums> {
        let d = Minimums::DEFAULT;
        let m = Minimums {
            iterations: self.iterations.unwrap_or(d.iterations),
            kills: self.kills.unwrap_or(d.kills),
            power_loss_states: self.power_loss_states.unwrap_or(d.power_loss_states),
        };
        if !m.at_least_default() {
            bail!(
                "the policy file {origin} lowers a minimum of crash testing; a policy may only \
                 raise them (at least {} iterations, {} kills, {} power-loss states)",
                d.iterations,
                d.kills,
                d.power_loss_states
            );
        }
        Ok(m)
    }
}

const PHASE1: &str = include_str!("../../policies/phase1.toml");
const PHASE2: &str = include_str!("../../policies/phase2.toml");

impl Policy {
    pub fn builtin(phase: Phase) -> Policy {
        let (text, origin) = match phase {
            Phase::Phase1 => (PHASE1, "policies/phase1.toml"),
            Phase::Phase2 => (PHASE2, "policies/phase2.toml"),
        };
        Policy::from_toml(text, origin).expect("the built-in policies are valid (unit-tested)")
    }

    pub fn load(path: &Path) -> Result<Policy> {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("cannot read the policy file {}", path.display()))?;
        Policy::from_toml(&text, &path.display().to_string())
    }

    /// Parses a policy; `origin` names the file in error messages.
    pub fn from_toml(text: &str, origin: &str) -> Result<Policy> {
        let file: PolicyFile = toml::from_str(text)
            .with_context(|| format!("the policy file {origin} is not valid"))?;
        if file.name.trim().is_empty() {
            bail!("the policy file {origin} has an empty name");
        }
        let mut cells = BTreeMap::new();
        for (list, req) in [
            (&file.gated, Requirement::Gated),
            (&file.informational, Requirement::Informational),
            (&file.optional, Requirement::Optional),
        ] {
            for s in list {
                let cell = CellId::parse(s)
                    .map_err(|e| anyhow::anyhow!("the policy file {origin}: {e}"))?;
                if let Some(prev) = cells.insert(cell.clone(), req) {
                    bail!(
                        "the policy file {origin} lists {cell} twice (as {prev} and as {req}); \
                         each cell belongs to one list"
                    );
                }
            }
        }
        let mut block_replay = BTreeSet::new();
        for s in &file.require_block_replay {
            block_replay.insert(if s == "*" {
                CellOrAll::All
            } else {
                CellOrAll::Cell(
                    CellId::parse(s)
                        .map_err(|e| anyhow::anyhow!("the policy file {origin}: {e}"))?,
                )
            });
        }
        Ok(Policy {
            block_replay,
            minimums: file.minimums.resolve(origin)?,
            name: file.name,
            description: file.description,
            cells,
        })
    }

    /// The requirement for a cell; cells the policy does not name are informational.
    pub fn requirement(&self, cell: &CellId) -> Requirement {
        self.cells
            .get(cell)
            .copied()
            .unwrap_or(Requirement::Informational)
    }

    /// Whether the cell's evidence must show block replay PASS to pass.
    pub fn requires_block_replay(&self, cell: &CellId) -> bool {
        self.block_replay.contains(&CellOrAll::All)
            || self.block_replay.contains(&CellOrAll::Cell(cell.clone()))
    }

    /// The cells the policy names.
    pub fn cells(&self) -> impl Iterator<Item = (&CellId, Requirement)> {
        self.cells.iter().map(|(c, r)| (c, *r))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cell_id::SEED_CELLS;

    fn req(p: &Policy, n: usize) -> Requirement {
        let (a, f) = SEED_CELLS[n - 1];
        p.requirement(&CellId::new(a, f).unwrap())
    }

    #[test]
    fn phase1_gates_cells_1_and_3_warns_on_2_and_5_and_reports_4_and_6() {
        let p = Policy::builtin(Phase::Phase1);
        assert_eq!(p.name, "phase1");
        use Requirement::*;
        let got: Vec<Requirement> = (1..=6).map(|n| req(&p, n)).collect();
        assert_eq!(
            got,
            [
                Gated,
                Informational,
                Gated,
                Optional,
                Informational,
                Optional
            ]
        );
    }

    #[test]
    fn phase2_gates_cells_1_to_5_and_reports_6() {
        let p = Policy::builtin(Phase::Phase2);
        use Requirement::*;
        let got: Vec<Requirement> = (1..=6).map(|n| req(&p, n)).collect();
        assert_eq!(got, [Gated, Gated, Gated, Gated, Gated, Optional]);
    }

    #[test]
    fn cells_a_policy_does_not_name_are_informational() {
        let p = Policy::builtin(Phase::Phase2);
        let s390x = CellId::parse("s390x/ext4").unwrap();
        assert_eq!(p.requirement(&s390x), Requirement::Informational);
    }

    #[test]
    fn a_policy_file_can_gate_any_cell() {
        let p = Policy::from_toml(
            "name = \"ours\"\ngated = [\"s390x/btrfs\"]\noptional = [\"amd64/ext4\"]\n",
            "ours.toml",
        )
        .unwrap();
        assert_eq!(
            p.requirement(&CellId::parse("s390x/btrfs").unwrap()),
            Requirement::Gated
        );
        assert_eq!(
            p.requirement(&CellId::parse("amd64/ext4").unwrap()),
            Requirement::Optional
        );
    }

    #[test]
    fn a_cell_in_two_lists_is_an_error() {
        let e = Policy::from_toml(
            "name = \"x\"\ngated = [\"amd64/ext4\"]\noptional = [\"amd64/ext4\"]\n",
            "x.toml",
        )
        .unwrap_err();
        assert!(format!("{e:#}").contains("lists amd64/ext4 twice"), "{e:#}");
    }

    #[test]
    fn a_misspelt_key_or_cell_is_an_error() {
        assert!(Policy::from_toml("name = \"x\"\ngate = [\"amd64/ext4\"]\n", "x").is_err());
        assert!(Policy::from_toml("name = \"x\"\ngated = [\"amd64-ext4\"]\n", "x").is_err());
        assert!(Policy::from_toml("name = \"x\"\ngated = [\"AMD64/ext4\"]\n", "x").is_err());
        assert!(Policy::from_toml("gated = [\"amd64/ext4\"]\n", "x").is_err());
    }

    #[test]
    fn seed_numbers_follow_the_overview_table() {
        assert_eq!(CellId::parse("amd64/ext4").unwrap().seed_number(), Some(1));
        assert_eq!(CellId::parse("riscv64/xfs").unwrap().seed_number(), Some(6));
        assert_eq!(CellId::parse("s390x/ext4").unwrap().seed_number(), None);
    }
}
