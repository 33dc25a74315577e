//! How an agent departs from honest play. The agent asks its [`Strategy`]
//! at the three points where a player has a choice: the output it claims,
//! the claims it challenges and the part of a dissection it disputes.
//! Operators run [`Honest`]; [`Falsify`] posts wrong claims so that an
//! operator can see a watchdog refute them; demonstrations and tests bring
//! their own adversaries.

use std::fmt;

use alloy_primitives::B256;

use crate::store::Verdict;

/// A player's choices.
pub trait Strategy: fmt::Debug + Send + Sync {
    /// Changes the output values of a claim the agent posts, given the
    /// true ones; the final state it claims is made to match them.
    fn claim_output(&self, output: &mut [f32]) {
        let _ = output;
    }

    /// Whether to challenge another account's claim `claim_id` that the
    /// agent's run judged `verdict`, and with which final state.
    fn challenge(&self, claim_id: u64, verdict: Verdict) -> Option<Challenge> {
        let _ = claim_id;
        (verdict == Verdict::False).then_some(Challenge::TrueFinalState)
    }

    /// The part a challenger disputes among `parts` of the dissection of
    /// the range starting at `lo`, given `first_false`, the first part whose
    /// end hash is false (its start is true).
    fn pick(&self, lo: u64, parts: usize, first_false: usize) -> usize {
        let _ = (lo, parts);
        first_false
    }
}

/// The final state a challenge stands for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Challenge {
    /// The agent's own run's.
    TrueFinalState,
    /// This hash (a challenger that does not know the true state).
    FinalState(B256),
}

/// Claims the truth, challenges false claims, disputes the first false part.
#[derive(Clone, Copy, Debug, Default)]
pub struct Honest;

impl Strategy for Honest {}

/// Claims one output value changed by `delta` (with a final state that
/// matches it) and otherwise plays honestly: a deliberately wrong claim,
/// which loses its bond to any honest watchdog.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Falsify {
    /// Which output value (taken modulo the output's length).
    pub index: usize,
    /// What is added to it.
    pub delta: f32,
}

impl Strategy for Falsify {
    fn claim_output(&self, output: &mut [f32]) {
        if !output.is_empty() {
            let i = self.index % output.len();
            output[i] += self.delta;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn honest_challenges_false_claims_only_with_its_own_run() {
        assert_eq!(
            Honest.challenge(1, Verdict::False),
            Some(Challenge::TrueFinalState)
        );
        assert_eq!(Honest.challenge(1, Verdict::True), None);
        assert_eq!(Honest.challenge(1, Verdict::Unknown), None);
        assert_eq!(Honest.pick(0, 16, 5), 5);
        let mut out = [1.0, 2.0];
        Honest.claim_output(&mut out);
        assert_eq!(out, [1.0, 2.0]);
    }

    #[test]
    fn falsify_changes_one_value_and_wraps_its_index() {
        let f = Falsify {
            index: 3,
            delta: 0.5,
        };
        let mut out = [1.0, 2.0, 3.0];
        f.claim_output(&mut out);
        assert_eq!(out, [1.5, 2.0, 3.0]);
        let mut out = [1.0, 2.0];
        f.claim_output(&mut out);
        assert_eq!(out, [1.0, 2.5]);
        f.claim_output(&mut []);
    }
}
