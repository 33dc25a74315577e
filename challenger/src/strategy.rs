//! How an agent departs from honest play. The agent asks its [`Strategy`]
//! at the points where a player has a choice: the output it claims, the
//! claims it challenges, the state hashes it posts in a dissection and the
//! part of a dissection it disputes. Operators run [`Honest`]; [`Falsify`]
//! posts wrong claims so that an operator can see a watchdog refute them;
//! [`Deviate`] makes such a claim's dispute end at a chosen step;
//! demonstrations and tests bring their own adversaries.

use std::fmt;

use alloy_primitives::{B256, keccak256};

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

    /// The hash a defender posts for the state after `step` steps of its
    /// own run, whose true hash is `true_hash`. The final state is not
    /// asked for: it is the claim's, as [`Strategy::claim_output`] made it.
    fn posted_hash(&self, step: u64, true_hash: B256) -> B256 {
        let _ = step;
        true_hash
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

/// A wrong claim ([`Falsify`]'s) defended with the true state hashes before
/// step `from_step` and false ones from it on, as if the run went wrong
/// there: an honest challenger's bisection ends at the one step from
/// `from_step - 1` to `from_step`, which the contract then runs. (With the
/// true hashes at every inner point, as [`Falsify`] posts them, the dispute
/// ends at the final step.)
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Deviate {
    /// The claim it posts.
    pub falsify: Falsify,
    /// The first step whose posted state hash is false (at least 1: the
    /// initial state is the chain's).
    pub from_step: u64,
}

impl Strategy for Deviate {
    fn claim_output(&self, output: &mut [f32]) {
        self.falsify.claim_output(output);
    }

    fn posted_hash(&self, step: u64, true_hash: B256) -> B256 {
        if step < self.from_step {
            true_hash
        } else {
            keccak256([b"verdict.deviate".as_slice(), &step.to_be_bytes()].concat())
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
        let h = B256::repeat_byte(7);
        assert_eq!(Honest.posted_hash(9, h), h);
    }

    #[test]
    fn deviate_claims_as_falsify_and_posts_false_hashes_from_its_step() {
        let falsify = Falsify {
            index: 1,
            delta: 2.0,
        };
        let d = Deviate {
            falsify,
            from_step: 10,
        };
        let (mut a, mut b) = ([1.0, 2.0], [1.0, 2.0]);
        d.claim_output(&mut a);
        falsify.claim_output(&mut b);
        assert_eq!(a, b);
        let h = B256::repeat_byte(7);
        assert_eq!(d.posted_hash(9, h), h);
        assert_ne!(d.posted_hash(10, h), h);
        assert_ne!(d.posted_hash(10, h), d.posted_hash(11, h));
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
