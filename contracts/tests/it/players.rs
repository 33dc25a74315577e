//! Dispute players for the tests: a compiled model registered on-chain, the
//! true trace of a run (op boundary states from the native engine, states
//! inside an op from the VM run from the op's boundary), honest and lying
//! defenders and challengers, and a driver that plays a game to its end.

use std::collections::BTreeMap;

use alloy_primitives::{Address, B256, Bytes, U256, keccak256};
use alloy_sol_types::SolCall;
use verdict_contracts::Gas;
use verdict_contracts::bindings::ClaimManager::{self, ClaimManagerErrors as E};
use verdict_contracts::bindings::ModelRegistry;
use verdict_contracts::protocol::{Deployment, Revert, Sent};
use verdict_contracts::rules::{
    self, BoundaryTree, GameStatus, LEVEL_OPS, LEVEL_STEPS, Party, region_path, split,
};
use verdict_dnn::engine::{Compiled, NativeRun};
use verdict_dnn::ir::{Model, ModelBuilder};
use verdict_dnn::ops::OpKind;
use verdict_dnn::ops::gemm::Gemm;
use verdict_dnn::ops::unary::{Unary, UnaryOp};
use verdict_dnn::package::Package;
use verdict_dnn::plan::Region;
use verdict_vm::{Machine, State};

/// Deterministic pseudo-random floats in [-1, 1).
pub(crate) fn values(seed: u64, n: usize) -> Vec<f32> {
    let mut s = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    (0..n)
        .map(|_| {
            s ^= s << 13;
            s ^= s >> 7;
            s ^= s << 17;
            ((s >> 40) as f32 / (1u64 << 24) as f32) * 2.0 - 1.0
        })
        .collect()
}

/// An `inputs`-`hidden`-`outputs` MLP with ReLU (PyTorch layout).
pub(crate) fn mlp(inputs: usize, hidden: usize, outputs: usize) -> Model {
    let mut b = ModelBuilder::new("mlp", &[1, inputs]);
    let w1 = b
        .weight("w1", &[hidden, inputs], values(1, hidden * inputs))
        .unwrap();
    let b1 = b.weight("b1", &[hidden], values(2, hidden)).unwrap();
    let w2 = b
        .weight("w2", &[outputs, hidden], values(3, outputs * hidden))
        .unwrap();
    let b2 = b.weight("b2", &[outputs], values(4, outputs)).unwrap();
    let gemm = OpKind::Gemm(Gemm {
        trans_b: true,
        ..Gemm::default()
    });
    let x = b.input();
    let h = b.node("fc1", gemm.clone(), &[x, w1, b1]).unwrap();
    let relu = OpKind::Unary(Unary { op: UnaryOp::Relu });
    let h = b.node("relu", relu, &[h]).unwrap();
    let y = b.node("fc2", gemm, &[h, w2, b2]).unwrap();
    b.finish(y)
}

/// Little-endian bytes of `words`.
pub(crate) fn le_bytes(values: &[f32]) -> Vec<u8> {
    values.iter().flat_map(|v| v.to_le_bytes()).collect()
}

/// `region`'s siblings in `machine`'s memory, from its own level up.
fn layout_path(machine: &Machine, region: Region) -> Vec<B256> {
    region_path(machine, region.addr, region.size).expect("a compiled layout's region")
}

/// A compiled model, registered.
pub(crate) struct Fixture {
    /// The model compiled.
    pub(crate) compiled: Compiled,
    /// Its id on-chain.
    pub(crate) model_id: B256,
    /// The step of each level-1 point.
    pub(crate) points: Vec<u64>,
    /// The input region's siblings in the image.
    pub(crate) input_path: Vec<B256>,
    /// The boundary table tree.
    tree: BoundaryTree,
}

impl Fixture {
    /// Compiles `model` and registers it from `from`, returning the gas.
    pub(crate) fn register(d: &mut Deployment, from: Address, model: Model) -> (Fixture, Gas) {
        let (call, fixture) = Fixture::prepare(model);
        let sent = d.send(from, d.registry, &call, U256::ZERO).unwrap();
        let model_id = sent.result.expect("registers");
        let record = rules::model_record(&call).unwrap();
        assert_eq!(model_id, rules::model_id(&record), "the registry's id");
        (
            Fixture {
                model_id,
                ..fixture
            },
            sent.gas,
        )
    }

    /// The `register` call of `model`.
    pub(crate) fn register_call(model: Model) -> ModelRegistry::registerCall {
        Fixture::prepare(model).0
    }

    /// Compiles `model`: its `register` call, and the fixture but for its id.
    fn prepare(model: Model) -> (ModelRegistry::registerCall, Fixture) {
        let package_hash = Package::build(model.clone()).unwrap().hash();
        let compiled = Compiled::new(model).unwrap();
        let p = &compiled.program;
        let mut points = p.boundaries.clone();
        points.push(p.total_steps);
        let numel = |tensor: usize| {
            compiled.model.tensors[tensor]
                .shape
                .iter()
                .product::<usize>()
        };
        let zero_input = vec![0.0; numel(compiled.model.input)];
        let input_path = layout_path(
            &compiled.initial_machine(&zero_input).unwrap(),
            p.layout.input,
        );
        let region = |r: Region, tensor: usize| ModelRegistry::Region {
            addr: r.addr,
            size: r.size,
            length: (4 * numel(tensor)) as u32,
        };
        let call = ModelRegistry::registerCall {
            imageRoot: compiled.image_root(),
            input: region(p.layout.input, compiled.model.input),
            output: region(p.layout.output, compiled.model.output),
            pointSteps: points.iter().map(|&s| U256::from(s)).collect(),
            inputPath: input_path.clone(),
            packageHash: package_hash,
        };
        let fixture = Fixture {
            compiled,
            model_id: B256::ZERO,
            tree: BoundaryTree::new(&points),
            points,
            input_path,
        };
        (call, fixture)
    }

    /// The number of ops.
    pub(crate) fn ops(&self) -> u64 {
        self.points.len() as u64 - 2
    }

    /// The level-1 point `p`'s path in the boundary table.
    pub(crate) fn boundary_path(&self, p: u64) -> Vec<B256> {
        self.tree.path(p).expect("a level-1 point")
    }
}

/// A claim as a submitter posts it.
pub(crate) struct ClaimData {
    /// The `submit` call.
    pub(crate) call: ClaimManager::submitCall,
    /// Hash of the final state claimed.
    pub(crate) final_hash: B256,
}

/// The true run of a fixture on one input.
pub(crate) struct Trace<'a> {
    fixture: &'a Fixture,
    native: NativeRun<'a>,
    input: Vec<f32>,
    /// Machines at steps already reached, to run forward from.
    snapshots: BTreeMap<u64, Machine>,
}

impl<'a> Trace<'a> {
    /// Runs `fixture` on `input` natively.
    pub(crate) fn new(fixture: &'a Fixture, input: &[f32]) -> Trace<'a> {
        Trace {
            fixture,
            native: fixture.compiled.run_native(input).unwrap(),
            input: input.to_vec(),
            snapshots: BTreeMap::new(),
        }
    }

    /// The final state, from the native image.
    pub(crate) fn final_state(&self) -> State {
        self.native.final_state()
    }

    /// The claim an honest submitter posts, or with `corrupt` set, a claim of
    /// a wrong output (its first byte flipped) with a final state to match.
    pub(crate) fn claim(&self, model_id: B256, corrupt: bool) -> ClaimData {
        let layout = &self.fixture.compiled.program.layout;
        let mut m = self.native.machine_at(self.fixture.ops() as usize).unwrap();
        m.step();
        let out = &self.fixture.compiled.model.tensors[self.fixture.compiled.model.output];
        let mut output = m.read_bytes(layout.output.addr, 4 * out.shape.iter().product::<usize>());
        if corrupt {
            output[0] ^= 1;
            m.write_bytes(layout.output.addr, &output);
        }
        let state = m.state();
        ClaimData {
            final_hash: state.hash(),
            call: ClaimManager::submitCall {
                modelId: model_id,
                input: le_bytes(&self.input).into(),
                output: output.into(),
                finalState: Bytes::copy_from_slice(&state.encode()),
                inputPath: self.fixture.input_path.clone(),
                outputPath: layout_path(&m, layout.output),
            },
        }
    }

    /// The level-1 point `p`'s step.
    pub(crate) fn point_step(&self, p: u64) -> u64 {
        self.fixture.points[p as usize]
    }

    /// The machine after `step` steps.
    pub(crate) fn machine_at(&mut self, step: u64) -> Machine {
        let points = &self.fixture.points;
        let op = points.partition_point(|&s| s <= step) - 1;
        let op = op.min(points.len() - 2);
        let mut m = match self.snapshots.range(points[op]..=step).next_back() {
            Some((_, m)) => m.clone(),
            None => self.native.machine_at(op).unwrap(),
        };
        m.run(step - m.core.step);
        if m.core.step != step {
            // The halted state is a fixed point; only the final point is past the halt.
            assert_eq!(step, self.fixture.points[points.len() - 1]);
        }
        self.snapshots.insert(step, m.clone());
        m
    }

    /// The true state hash after `step` steps.
    pub(crate) fn hash_at_step(&mut self, step: u64) -> B256 {
        if step == *self.fixture.points.last().unwrap() {
            return self.final_state().hash();
        }
        self.machine_at(step).state_hash()
    }

    /// The true hash at position `x` of `level` (a point or a step).
    pub(crate) fn hash_at(&mut self, level: u8, x: u64) -> B256 {
        let step = if level == LEVEL_OPS {
            self.point_step(x)
        } else {
            x
        };
        self.hash_at_step(step)
    }

    /// A step proof of the state after `step` steps.
    pub(crate) fn proof(&mut self, step: u64) -> Vec<u8> {
        self.machine_at(step).prove_step().to_bytes()
    }

    /// Forgets the snapshots (after a game, to bound memory).
    pub(crate) fn forget(&mut self) {
        self.snapshots.clear();
    }
}

/// A fake hash: what a liar posts where it lies.
pub(crate) fn fake(salt: u64, level: u8, x: u64) -> B256 {
    keccak256(
        [
            salt.to_be_bytes(),
            u64::from(level).to_be_bytes(),
            x.to_be_bytes(),
        ]
        .concat(),
    )
}

/// How a defender (the claim's submitter) plays.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum DefenderPlan {
    /// Posts the true hashes; proves the step.
    Honest,
    /// Posts the true hashes before step `from`, fake ones from it on.
    LieFrom(u64),
    /// Lies at level 1 from point `from` on, then posts true hashes inside the op.
    LieAtOps(u64),
    /// Posts, for each op boundary, the true state one step past it.
    ShiftBoundaries,
    /// Honest, but goes silent after `moves` moves.
    SilentAfter(u32),
}

/// How a challenger plays.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum ChallengerPlan {
    /// Picks the first part whose end hash is false.
    Honest,
    /// Picks a part at random, seeded.
    Random(u32),
    /// Picks at random like `Random(moves)`, and goes silent after `moves` moves.
    SilentAfter(u32),
}

/// What a played game gave.
#[derive(Debug, Default)]
pub(crate) struct GameLog {
    /// Each move: its name and gas.
    pub(crate) moves: Vec<(&'static str, Gas)>,
    /// The winner, from the GameResolved event.
    pub(crate) winner: Option<Party>,
}

/// The parties and the game they play.
pub(crate) struct Match<'t, 'a> {
    /// The true trace.
    pub(crate) trace: &'t mut Trace<'a>,
    /// The defender's address.
    pub(crate) defender: Address,
    /// The challenger's address.
    pub(crate) challenger: Address,
    /// The game.
    pub(crate) game_id: U256,
    /// The defender's plan.
    pub(crate) defender_plan: DefenderPlan,
    /// The challenger's plan.
    pub(crate) challenger_plan: ChallengerPlan,
    /// The defender's final state hash (the claim's).
    pub(crate) claimed_final: B256,
    /// Seconds each party waits before each move.
    pub(crate) think_time: u64,
    /// Moves the defender made.
    pub(crate) defender_moves: u32,
    /// Moves the challenger made.
    pub(crate) challenger_moves: u32,
}

impl Match<'_, '_> {
    /// The defender's hash at position `x` of `level`.
    fn defender_hash(&mut self, level: u8, x: u64) -> B256 {
        let last = *self.trace.fixture.points.last().unwrap();
        let step = if level == LEVEL_OPS {
            self.trace.point_step(x)
        } else {
            x
        };
        if step == last {
            return self.claimed_final;
        }
        match self.defender_plan {
            DefenderPlan::Honest | DefenderPlan::SilentAfter(_) => self.trace.hash_at(level, x),
            DefenderPlan::LieFrom(from) if step >= from => fake(from, 0, step),
            DefenderPlan::LieFrom(_) => self.trace.hash_at(level, x),
            DefenderPlan::LieAtOps(from) if level == LEVEL_OPS && x >= from => fake(from, level, x),
            DefenderPlan::LieAtOps(_) => self.trace.hash_at(level, x),
            DefenderPlan::ShiftBoundaries if level == LEVEL_OPS && x > 0 => {
                self.trace.hash_at_step(step + 1)
            }
            DefenderPlan::ShiftBoundaries => self.trace.hash_at(level, x),
        }
    }

    fn send<C: SolCall>(&self, d: &mut Deployment, from: Address, call: &C) -> Sent<()> {
        let sent = d.send(from, d.manager, call, U256::ZERO).unwrap();
        Sent {
            result: sent.result.map(|_| ()),
            gas: sent.gas,
            logs: sent.logs,
        }
    }

    /// Makes the next move of the game, if it is open; returns whether it
    /// was. Every move is checked to succeed; a silent party is timed out by
    /// the other.
    pub(crate) fn step_once(&mut self, d: &mut Deployment, log: &mut GameLog) -> bool {
        let g = d
            .view(
                d.manager,
                &ClaimManager::getGameCall {
                    gameId: self.game_id,
                },
            )
            .unwrap()
            .unwrap();
        if g.status != u8::from(GameStatus::Open) {
            return false;
        }
        d.evm.advance(self.think_time);
        let (lo, hi) = (g.lo, g.hi);
        let defender_turn = g.turn == u8::from(Party::Defender);
        let made = if defender_turn {
            self.defender_moves
        } else {
            self.challenger_moves
        };
        let silent = if defender_turn {
            matches!(self.defender_plan, DefenderPlan::SilentAfter(n) if made >= n)
        } else {
            matches!(self.challenger_plan, ChallengerPlan::SilentAfter(n) if made >= n)
        };
        let (name, sent) = if silent {
            let budget = d
                .view(d.manager, &ClaimManager::clockBudgetCall {})
                .unwrap()
                .unwrap();
            d.evm.advance(budget + 1);
            let other = if defender_turn {
                self.challenger
            } else {
                self.defender
            };
            let call = ClaimManager::timeoutCall {
                gameId: self.game_id,
            };
            ("timeout", self.send(d, other, &call))
        } else if defender_turn && g.level == LEVEL_STEPS && hi - lo == 1 {
            self.defender_moves += 1;
            let call = ClaimManager::proveStepCall {
                gameId: self.game_id,
                proof: self.trace.proof(lo).into(),
            };
            ("proveStep", self.send(d, self.defender, &call))
        } else if defender_turn {
            self.defender_moves += 1;
            let hashes: Vec<B256> = split(lo, hi)
                .into_iter()
                .map(|x| self.defender_hash(g.level, x))
                .collect();
            let call = ClaimManager::bisectCall {
                gameId: self.game_id,
                hashes,
            };
            ("bisect", self.send(d, self.defender, &call))
        } else {
            self.challenger_moves += 1;
            self.choose(d, &g)
        };
        if let Err(e) = &sent.result {
            panic!("{name} reverted: {e:?}");
        }
        log.moves.push((name, sent.gas));
        for e in sent.manager_events() {
            if let ClaimManager::ClaimManagerEvents::GameResolved(r) = e {
                log.winner = Some(Party::try_from(r.winner).expect("a party"));
            }
        }
        true
    }

    /// The challenger's choice, sent.
    fn choose(&mut self, d: &mut Deployment, g: &ClaimManager::Game) -> (&'static str, Sent<()>) {
        let posted = posted_hashes(d, self.game_id);
        let parts = split(g.lo, g.hi).len() + 1;
        let index = match self.challenger_plan {
            ChallengerPlan::Random(seed) | ChallengerPlan::SilentAfter(seed) => {
                let r = keccak256([u64::from(seed).to_be_bytes(), g.lo.to_be_bytes()].concat());
                usize::from(r[0]) % parts
            }
            ChallengerPlan::Honest => rules::first_false_part(g.lo, g.hi, &posted, g.hiHash, |x| {
                self.trace.hash_at(g.level, x)
            })
            .expect("an honest challenger disputes some part")
                as usize,
        };
        let (lo, hi) = rules::part(g.lo, g.hi, index as u64).expect("a part of the dissection");
        if g.level == LEVEL_OPS && hi - lo == 1 {
            let call = ClaimManager::chooseOpCall {
                gameId: self.game_id,
                hashes: posted,
                index: U256::from(index),
                startStep: self.trace.point_step(lo),
                startPath: self.trace.fixture.boundary_path(lo),
                endStep: self.trace.point_step(hi),
                endPath: self.trace.fixture.boundary_path(hi),
            };
            ("chooseOp", self.send(d, self.challenger, &call))
        } else {
            let call = ClaimManager::chooseCall {
                gameId: self.game_id,
                hashes: posted,
                index: U256::from(index),
            };
            ("choose", self.send(d, self.challenger, &call))
        }
    }
}

/// The hashes of the last bisection of `game_id`, as an agent reads them
/// from the chain: the last Bisected event's.
pub(crate) fn posted_hashes(d: &Deployment, game_id: U256) -> Vec<B256> {
    d.events()
        .iter()
        .rev()
        .find_map(|e| match e {
            ClaimManager::ClaimManagerEvents::Bisected(b) if b.gameId == game_id => {
                Some(b.hashes.clone())
            }
            _ => None,
        })
        .expect("a bisection was posted")
}

/// The manager error a revert must be.
pub(crate) fn manager_error(r: &Revert) -> &E {
    match r {
        Revert::Manager(e) => e,
        other => panic!("expected a ClaimManager error, got {other:?}"),
    }
}
