//! How much crash testing a certificate needs: the minimums, in one place.
//!
//! A cell that ran no crash test proves nothing about crashes, yet without a floor `cell
//! --iterations 0` certified ("harness 0/0") and the gate let it through. So the cell and the
//! gate hold a cell's evidence to the same minimums: the seed's injected-leftover iterations,
//! kill -9 runs of a real writer, and distinct power-loss states checked. Below any of them a
//! cell is not certified, whatever else passed. The command line refuses a count of zero
//! outright; a smaller count than the minimum still runs (a quick diagnosis) but is written as
//! not certified. A gate policy can raise the minimums (`[minimums]` in its file), never lower
//! them. docs/gate.md and the README document the numbers.

use serde::{Deserialize, Serialize};

/// The least crash testing that certifies a cell.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Minimums {
    /// The seed's injected-leftover iterations.
    pub iterations: u32,
    /// kill -9 runs of a real writer.
    pub kills: u32,
    /// Distinct power-loss states recovered and checked.
    pub power_loss_states: u64,
}

impl Minimums {
    /// The documented minimums. A default cell runs 20 iterations, 100 kills and checks every
    /// distinct state of the standard workload (about 85), well above them.
    pub const DEFAULT: Minimums = Minimums {
        iterations: 10,
        kills: 10,
        power_loss_states: 50,
    };

    /// Whether every minimum is at least the default's (a policy may only raise them).
    pub fn at_least_default(&self) -> bool {
        self.iterations >= Self::DEFAULT.iterations
            && self.kills >= Self::DEFAULT.kills
            && self.power_loss_states >= Self::DEFAULT.power_loss_states
    }
}

/// How much crash testing a cell did (absent parts count as none).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Coverage {
    pub iterations: u32,
    pub kills: u32,
    pub power_loss_states: u64,
}

impl Coverage {
    /// What falls short of `min`, one phrase each ("3 iterations (minimum 10)"); empty when the
    /// coverage certifies.
    pub fn shortfalls(&self, min: &Minimums) -> Vec<String> {
        let mut out = Vec::new();
        if self.iterations < min.iterations {
            out.push(format!(
                "{} crash-harness iterations (minimum {})",
                self.iterations, min.iterations
            ));
        }
        if self.kills < min.kills {
            out.push(format!(
                "{} kill -9 runs (minimum {})",
                self.kills, min.kills
            ));
        }
        if self.power_loss_states < min.power_loss_states {
            out.push(format!(
                "{} power-loss states checked (minimum {})",
                self.power_loss_states, min.power_loss_states
            ));
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn coverage_at_the_minimums_certifies_and_one_short_of_any_does_not() {
        let min = Minimums::DEFAULT;
        let at = Coverage {
            iterations: min.iterations,
            kills: min.kills,
            power_loss_states: min.power_loss_states,
        };
        assert!(at.shortfalls(&min).is_empty());
        let short = Coverage {
            kills: min.kills - 1,
            ..at
        };
        assert_eq!(short.shortfalls(&min), ["9 kill -9 runs (minimum 10)"]);
        assert_eq!(Coverage::default().shortfalls(&min).len(), 3);
    }

    #[test]
    fn a_policy_may_raise_the_minimums_but_not_lower_them() {
        let raised = Minimums {
            kills: 500,
            ..Minimums::DEFAULT
        };
        assert!(raised.at_least_default());
        let lowered = Minimums {
            iterations: 1,
            ..Minimums::DEFAULT
        };
        assert!(!lowered.at_least_default());
    }
}
