//! The protocol's rules as the contracts apply them (docs/spec/protocol.md),
//! for everyone who plays by them off-chain: the agents and the tests' players.
//! Each rule is written once here; `tests/it/rules.rs` holds the constants
//! and enums against `ClaimManager.sol`, and the records and ids against the
//! deployed registry.
//!
//! - the game's constants ([`DISSECTION_DEGREE`], [`LEVEL_OPS`],
//!   [`LEVEL_STEPS`]) and the contract's enums as the ABI carries them
//!   ([`Party`], [`ClaimStatus`], [`GameStatus`]);
//! - where a dissection places its points ([`split`], [`part`]) and the part
//!   an honest challenger disputes ([`first_false_part`]);
//! - a model's level-1 points ([`level1_points`]), record and id
//!   ([`model_record`], [`model_id`]) and its boundary table tree
//!   ([`BoundaryTree`]);
//! - the Merkle path of a tensor region ([`region_path`]).

use std::fmt;

use alloy_primitives::{B256, U256, keccak256};
use alloy_sol_types::SolValue;
use verdict_vm::Machine;
use verdict_vm::merkle::{LEAF_BITS, LEAF_SIZE, hash_pair};

use crate::bindings::ModelRegistry;

/// `ClaimManager.DISSECTION_DEGREE`: a bisection cuts a segment into this
/// many parts (fewer when the segment is shorter).
pub const DISSECTION_DEGREE: u64 = 16;
/// `ClaimManager.LEVEL_OPS`: positions are level-1 points (the initial
/// state, the op boundaries, the final state).
pub const LEVEL_OPS: u8 = 1;
/// `ClaimManager.LEVEL_STEPS`: positions are the VM steps of one op.
pub const LEVEL_STEPS: u8 = 2;

/// Level-1 points a model registers at most: 8,192 (about 7.5 M gas of
/// calldata and event data to register), far under a transaction's 2^24.
pub const MAX_LEVEL1_POINTS: usize = 1 << 13;

/// A model's level-1 points from its op boundary table (`boundaries`: op
/// `o` starts at step `boundaries[o]`, the last op being the `halt`) and
/// its total steps: the steps of the points, and the op each point but the
/// last starts (docs/spec/protocol.md §2). Every op boundary is a point
/// when they fit in [`MAX_LEVEL1_POINTS`]; otherwise the ops before the
/// `halt` are taken `g` at a time, `g` the least that fits, and a level-1
/// segment (a level-2 game) spans `g` ops.
pub fn level1_points(boundaries: &[u64], total_steps: u64) -> (Vec<u64>, Vec<usize>) {
    let n = boundaries.len();
    let group = if n < MAX_LEVEL1_POINTS {
        1
    } else {
        (n - 1).div_ceil(MAX_LEVEL1_POINTS - 3)
    };
    let ops: Vec<usize> = (0..n - 1).step_by(group).chain([n - 1]).collect();
    let steps = ops
        .iter()
        .map(|&o| boundaries[o])
        .chain([total_steps])
        .collect();
    (steps, ops)
}

/// Input the rules refuse.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum RulesError {
    /// A byte that is none of an enum's values.
    #[error("{value} is not a {name}")]
    UnknownValue {
        /// The enum.
        name: &'static str,
        /// The byte.
        value: u8,
    },
    /// A region that is not one whole subtree of the memory tree (the
    /// registry's `BadRegion`).
    #[error("the region of {size} bytes at {addr:#x} is not a whole subtree of the memory tree")]
    BadRegion {
        /// Its first byte.
        addr: u32,
        /// Its size in bytes.
        size: u32,
    },
    /// Point steps the registry refuses (its `BadBoundaryTable`): fewer than
    /// three, not starting at 0, not strictly increasing, or past 2^64 - 1.
    #[error("the point steps are not a boundary table")]
    BadBoundaryTable,
}

/// One of the contract's `enum`s, which the ABI carries as a `uint8` in
/// declaration order: the Rust enum, `TryFrom<u8>`, and `Display` with the
/// Solidity names.
macro_rules! abi_enum {
    ($(#[$doc:meta])* $name:ident { $($(#[$vdoc:meta])* $variant:ident = $value:literal,)+ }) => {
        $(#[$doc])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
        #[repr(u8)]
        pub enum $name {
            $($(#[$vdoc])* $variant = $value,)+
        }

        impl $name {
            /// Every value, in declaration order.
            pub const ALL: &[$name] = &[$($name::$variant),+];

            /// The Solidity name.
            pub fn name(self) -> &'static str {
                match self {
                    $($name::$variant => stringify!($variant),)+
                }
            }
        }

        impl TryFrom<u8> for $name {
            type Error = RulesError;

            fn try_from(value: u8) -> Result<$name, RulesError> {
                match value {
                    $($value => Ok($name::$variant),)+
                    _ => Err(RulesError::UnknownValue { name: stringify!($name), value }),
                }
            }
        }

        impl From<$name> for u8 {
            fn from(v: $name) -> u8 {
                v as u8
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.name())
            }
        }
    };
}

abi_enum! {
    /// `ClaimManager.Party`: the two sides of a game.
    Party {
        /// The claim's submitter.
        Defender = 0,
        /// Who challenged.
        Challenger = 1,
    }
}

abi_enum! {
    /// `ClaimManager.ClaimStatus` (docs/spec/protocol.md §3.2).
    ClaimStatus {
        /// No such claim: the record of an unknown id is all zeros.
        None = 0,
        /// In its window, or with games open.
        Pending = 1,
        /// A challenger won a game against it.
        Rejected = 2,
        /// Final, its bond paid back.
        Finalized = 3,
    }
}

abi_enum! {
    /// `ClaimManager.RequestStatus` (docs/spec/protocol.md §4).
    RequestStatus {
        /// No such request.
        None = 0,
        /// Waiting for a final claim of its result.
        Open = 1,
        /// Fulfilled: its fee went to the first claim of its result.
        Fulfilled = 2,
        /// Cancelled after its expiry: its fee went back to the requester.
        Cancelled = 3,
    }
}

abi_enum! {
    /// `ClaimManager.GameStatus` (docs/spec/protocol.md §5.2).
    GameStatus {
        /// No such game.
        None = 0,
        /// Being played.
        Open = 1,
        /// The defender won.
        DefenderWon = 2,
        /// The challenger won: the claim is rejected.
        ChallengerWon = 3,
        /// Its claim was rejected by another game; the challenger's bond returned
        /// with its share of the claim's pot.
        Refunded = 4,
    }
}

/// The number of parts a bisection of `[lo, hi]` has: `min(k, hi - lo)`.
pub fn parts(lo: u64, hi: u64) -> u64 {
    hi.saturating_sub(lo).min(DISSECTION_DEGREE)
}

/// The `i`-th point of the dissection of `[lo, hi]`, `lo + ⌊(hi - lo) · i / m⌋`
/// for `m` parts; in 128 bits, as the contract computes in 256.
fn point(lo: u64, hi: u64, parts: u64, i: u64) -> u64 {
    let length = u128::from(hi - lo);
    lo + (length * u128::from(i) / u128::from(parts)) as u64
}

/// The inner points of a dissection of `[lo, hi]`, where the defender posts
/// its hashes (none when `hi - lo < 2`).
pub fn split(lo: u64, hi: u64) -> Vec<u64> {
    let m = parts(lo, hi);
    (1..m).map(|i| point(lo, hi, m, i)).collect()
}

/// The bounds of part `index` of the dissection of `[lo, hi]`, or `None`
/// when there is no such part (the contract's `BadChoice`).
pub fn part(lo: u64, hi: u64, index: u64) -> Option<(u64, u64)> {
    let m = parts(lo, hi);
    (index < m).then(|| (point(lo, hi, m, index), point(lo, hi, m, index + 1)))
}

/// The part of the dissection of `[lo, hi]` an honest challenger disputes
/// (docs/spec/protocol.md §5.1): the first whose end hash (among `posted`,
/// then `hi_hash`) is not `truth` at that point, so that its start is true;
/// `None` when every end is true.
pub fn first_false_part(
    lo: u64,
    hi: u64,
    posted: &[B256],
    hi_hash: B256,
    mut truth: impl FnMut(u64) -> B256,
) -> Option<u64> {
    let ends = posted.iter().copied().zip(split(lo, hi));
    ends.chain([(hi_hash, hi)])
        .position(|(hash, x)| truth(x) != hash)
        .map(|i| i as u64)
}

/// The boundary table tree of a model: the MerkleTree of height
/// `ceil(log2(points))` over the steps of its level-1 points (32-byte
/// big-endian leaves), zero leaves after them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BoundaryTree {
    /// Every level, leaves first, up to the root.
    levels: Vec<Vec<B256>>,
}

impl BoundaryTree {
    /// The tree over `points`, the step of each level-1 point.
    pub fn new(points: &[u64]) -> BoundaryTree {
        let width = points.len().next_power_of_two();
        let mut level: Vec<B256> = (0..width)
            .map(|i| B256::from(U256::from(points.get(i).copied().unwrap_or(0))))
            .collect();
        let mut levels = vec![level.clone()];
        while level.len() > 1 {
            level = level.chunks(2).map(|c| hash_pair(&c[0], &c[1])).collect();
            levels.push(level.clone());
        }
        BoundaryTree { levels }
    }

    /// The root: the registry's `boundaryRoot`.
    pub fn root(&self) -> B256 {
        self.levels[self.levels.len() - 1][0]
    }

    /// The height: the registry's `boundaryDepth`.
    pub fn depth(&self) -> u8 {
        (self.levels.len() - 1) as u8
    }

    /// Point `p`'s siblings, lowest first: the path `chooseOp` checks; `None`
    /// past the tree's leaves.
    pub fn path(&self, p: u64) -> Option<Vec<B256>> {
        let mut index = usize::try_from(p).ok()?;
        if index >= self.levels[0].len() {
            return None;
        }
        let mut path = Vec::with_capacity(self.levels.len() - 1);
        for level in &self.levels[..self.levels.len() - 1] {
            path.push(level[index ^ 1]);
            index /= 2;
        }
        Some(path)
    }
}

/// The record the registry makes of a `register` call (docs/spec/protocol.md
/// §2), checking the point steps as it does; the regions and the input path
/// are checked on-chain against the image.
///
/// # Errors
///
/// [`RulesError::BadBoundaryTable`] for point steps the registry refuses.
pub fn model_record(
    call: &ModelRegistry::registerCall,
) -> Result<ModelRegistry::Model, RulesError> {
    let points = call
        .pointSteps
        .iter()
        .map(|s| u64::try_from(*s).map_err(|_| RulesError::BadBoundaryTable))
        .collect::<Result<Vec<u64>, _>>()?;
    let increasing = points.windows(2).all(|w| w[0] < w[1]);
    if points.len() < 3 || points[0] != 0 || !increasing {
        return Err(RulesError::BadBoundaryTable);
    }
    let op_count = u32::try_from(points.len() - 2).map_err(|_| RulesError::BadBoundaryTable)?;
    let tree = BoundaryTree::new(&points);
    Ok(ModelRegistry::Model {
        imageRoot: call.imageRoot,
        input: call.input.clone(),
        output: call.output.clone(),
        opCount: op_count,
        totalSteps: points[points.len() - 1],
        boundaryRoot: tree.root(),
        boundaryDepth: tree.depth(),
        packageHash: call.packageHash,
    })
}

/// The id the registry gives `record`: keccak256 of its ABI encoding.
pub fn model_id(record: &ModelRegistry::Model) -> B256 {
    keccak256(record.abi_encode())
}

/// The siblings of the region of `size` bytes at `addr` in `machine`'s
/// memory, from the region's own level up to the root: the `inputPath` of a
/// registration, the `inputPath` and `outputPath` of a claim. Read in
/// place from a hashed machine; an unhashed one is hashed on a copy.
///
/// # Errors
///
/// [`RulesError::BadRegion`] unless `size` is a power of two of at least a
/// leaf and `addr` a multiple of it.
pub fn region_path(machine: &Machine, addr: u32, size: u32) -> Result<Vec<B256>, RulesError> {
    if size < LEAF_SIZE as u32 || !size.is_power_of_two() || !addr.is_multiple_of(size) {
        return Err(RulesError::BadRegion { addr, size });
    }
    let height = (size.trailing_zeros() - LEAF_BITS) as usize;
    let leaf = addr >> LEAF_BITS;
    let memory = machine.memory();
    let path = match memory.hashed_path(leaf) {
        Some(path) => path,
        None => memory.clone().path(leaf),
    };
    Ok(path[height..].to_vec())
}

#[cfg(test)]
mod tests {
    use verdict_vm::merkle::TREE_DEPTH;

    use super::*;

    #[test]
    fn enums_round_trip_through_their_bytes() {
        for (i, s) in ClaimStatus::ALL.iter().enumerate() {
            assert_eq!(ClaimStatus::try_from(i as u8), Ok(*s));
            assert_eq!(u8::from(*s), i as u8);
        }
        assert_eq!(
            GameStatus::try_from(1).map(|s| s.to_string()),
            Ok("Open".to_owned())
        );
        assert_eq!(
            Party::try_from(2),
            Err(RulesError::UnknownValue {
                name: "Party",
                value: 2
            })
        );
    }

    #[test]
    fn enums_are_the_contracts_in_name_and_order() {
        let source = include_str!("../src/ClaimManager.sol");
        let declared = |name: &str| -> Vec<&str> {
            let start = source
                .find(&format!("enum {name} {{"))
                .unwrap_or_else(|| panic!("enum {name} in ClaimManager.sol"));
            let body = &source[start..];
            body[body.find('{').unwrap() + 1..body.find('}').unwrap()]
                .split(',')
                .map(str::trim)
                .collect()
        };
        macro_rules! check {
            ($($e:ident),+) => {$(
                let ours: Vec<&str> = $e::ALL.iter().map(|v| v.name()).collect();
                assert_eq!(declared(stringify!($e)), ours);
            )+};
        }
        check!(ClaimStatus, GameStatus, RequestStatus, Party);
    }

    #[test]
    fn a_dissection_covers_its_segment_with_increasing_points() {
        for (lo, hi) in [(0, 2), (3, 10), (5, 21), (0, 17), (100, 1_000_003)] {
            let inner = split(lo, hi);
            let m = parts(lo, hi);
            assert_eq!(inner.len() as u64, m - 1, "[{lo}, {hi}]");
            let bounds: Vec<(u64, u64)> = (0..m).map(|c| part(lo, hi, c).unwrap()).collect();
            assert_eq!(bounds[0].0, lo);
            assert_eq!(bounds[bounds.len() - 1].1, hi);
            for (c, &(a, b)) in bounds.iter().enumerate() {
                assert!(a < b, "part {c} of [{lo}, {hi}] is empty");
                if c > 0 {
                    assert_eq!(a, inner[c - 1]);
                    assert_eq!(bounds[c - 1].1, a);
                }
            }
            assert_eq!(part(lo, hi, m), None);
        }
    }

    #[test]
    fn a_short_segment_has_one_part_per_unit() {
        assert_eq!(split(4, 9), vec![5, 6, 7, 8]);
        assert_eq!(split(7, 8), Vec::<u64>::new());
        assert_eq!(parts(7, 7), 0);
        assert_eq!(part(7, 8, 0), Some((7, 8)));
    }

    #[test]
    fn a_long_segment_is_cut_as_the_contract_cuts_it() {
        // lo + (hi - lo) * i / 16, with products past 2^64.
        let (lo, hi) = (1, u64::MAX);
        let inner = split(lo, hi);
        assert_eq!(inner.len(), 15);
        assert_eq!(inner[7], lo + ((u128::from(hi - lo) * 8) / 16) as u64);
        assert_eq!(part(lo, hi, 15), Some((inner[14], hi)));
    }

    #[test]
    fn an_honest_challenger_disputes_the_first_false_end() {
        let truth = |x: u64| B256::from(U256::from(x));
        let (lo, hi) = (10, 42);
        let true_posted: Vec<B256> = split(lo, hi).into_iter().map(truth).collect();
        assert_eq!(
            first_false_part(lo, hi, &true_posted, truth(hi), truth),
            None
        );
        assert_eq!(
            first_false_part(lo, hi, &true_posted, B256::ZERO, truth),
            Some(15)
        );
        let mut posted = true_posted.clone();
        posted[4] = B256::ZERO;
        posted[9] = B256::ZERO;
        assert_eq!(
            first_false_part(lo, hi, &posted, B256::ZERO, truth),
            Some(4)
        );
    }

    #[test]
    fn boundary_paths_fold_to_the_root() {
        let points = [0, 7, 19, 20, 31];
        let tree = BoundaryTree::new(&points);
        assert_eq!(tree.depth(), 3);
        for (p, &step) in points.iter().enumerate() {
            let path = tree.path(p as u64).unwrap();
            assert_eq!(path.len(), 3);
            let mut node = B256::from(U256::from(step));
            let mut index = p;
            for sibling in path {
                node = if index % 2 == 0 {
                    hash_pair(&node, &sibling)
                } else {
                    hash_pair(&sibling, &node)
                };
                index /= 2;
            }
            assert_eq!(node, tree.root(), "point {p}");
        }
        assert_eq!(tree.path(8), None);
    }

    #[test]
    fn region_paths_end_at_the_root_and_refuse_non_subtrees() {
        let m = Machine::default();
        let path = region_path(&m, 0x1000, 0x400).unwrap();
        assert_eq!(path.len(), TREE_DEPTH - 5);
        for (addr, size) in [(0x1000, 0x300), (0x1200, 0x400), (0, 16)] {
            assert_eq!(
                region_path(&m, addr, size),
                Err(RulesError::BadRegion { addr, size })
            );
        }
    }

    #[test]
    fn a_record_needs_a_boundary_table() {
        let region = ModelRegistry::Region {
            addr: 0x1000,
            size: 0x400,
            length: 4,
        };
        let call = |steps: &[u64]| ModelRegistry::registerCall {
            imageRoot: B256::repeat_byte(1),
            input: region.clone(),
            output: region.clone(),
            pointSteps: steps.iter().map(|&s| U256::from(s)).collect(),
            inputPath: vec![],
            packageHash: B256::repeat_byte(2),
        };
        let record = model_record(&call(&[0, 5, 9])).unwrap();
        assert_eq!((record.opCount, record.totalSteps), (1, 9));
        assert_eq!(record.boundaryRoot, BoundaryTree::new(&[0, 5, 9]).root());
        for bad in [&[0, 5][..], &[1, 5, 9], &[0, 9, 5], &[0, 5, 5]] {
            assert_eq!(model_record(&call(bad)), Err(RulesError::BadBoundaryTable));
        }
        let mut past_u64 = call(&[0, 5, 9]);
        past_u64.pointSteps[2] = U256::from(u64::MAX) + U256::from(1);
        assert_eq!(model_record(&past_u64), Err(RulesError::BadBoundaryTable));
    }

    /// Every op boundary is a point while they fit; past that the ops are
    /// grouped, the `halt` keeps its own segment and the points fit.
    #[test]
    fn level1_points_group_ops_only_past_the_limit() {
        let (steps, ops) = level1_points(&[0, 4, 9], 10);
        assert_eq!((steps, ops), (vec![0, 4, 9, 10], vec![0, 1, 2]));
        for n in [MAX_LEVEL1_POINTS - 1, MAX_LEVEL1_POINTS, 73_230] {
            let boundaries: Vec<u64> = (0..n as u64).map(|o| 3 * o).collect();
            let (steps, ops) = level1_points(&boundaries, 3 * n as u64 + 1);
            assert!(steps.len() <= MAX_LEVEL1_POINTS, "{n} ops");
            assert_eq!(steps.len(), ops.len() + 1);
            assert_eq!(*ops.last().unwrap(), n - 1, "the halt is a point");
            assert!(steps.windows(2).all(|w| w[0] < w[1]));
            let grouped = n >= MAX_LEVEL1_POINTS;
            assert_eq!(steps.len() < n + 1, grouped, "{n} ops");
        }
    }
}
