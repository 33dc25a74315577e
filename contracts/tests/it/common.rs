//! Shared by the tests: the Rust-against-Solidity check, case counts, and
//! random machines.

use alloy_primitives::{B256, hex};
use proptest::prelude::*;
use proptest::sample::select;
use verdict_contracts::StepVerifier;
use verdict_vm::state::Core;
use verdict_vm::{CODE_END, Machine, Op, Status, VerifyError, verify_step};

/// Runs one step through the Solidity verifier and through
/// [`verify_step`], requires the same result, and returns it. On a
/// mismatch the panic message holds the calldata, to replay the step by hand.
pub(crate) fn check_step(
    verifier: &mut StepVerifier,
    pre_state_hash: B256,
    proof: &[u8],
) -> Result<B256, VerifyError> {
    let replay = || hex::encode_prefixed(StepVerifier::calldata(pre_state_hash, proof));
    let want = verify_step(pre_state_hash, proof);
    let got = verifier
        .step(pre_state_hash, proof)
        .unwrap_or_else(|e| panic!("the verifier failed: {e}\ncalldata: {}", replay()));
    assert_eq!(
        got.result,
        want,
        "Solidity and Rust disagree\ncalldata: {}",
        replay()
    );
    want
}

/// Proves the next step of `machine`, executes it, checks the proof in
/// Solidity and in Rust, and requires both to give the machine's new state.
pub(crate) fn check_machine_step(verifier: &mut StepVerifier, machine: &mut Machine) {
    let proof = machine.prove_step();
    let result = check_step(verifier, proof.pre_state_hash(), &proof.to_bytes());
    assert_eq!(
        result,
        Ok(machine.state_hash()),
        "the verified post-state is not the VM's"
    );
}

/// `base` cases, or `long` when `VERDICT_LONG_FUZZ=1` asks for the long run.
pub(crate) fn cases(base: u32, long: u32) -> u32 {
    if std::env::var("VERDICT_LONG_FUZZ").is_ok_and(|v| v == "1") {
        long
    } else {
        base
    }
}

/// Float bit patterns where IEEE arithmetic has its edge cases: signed
/// zeros, subnormal bounds, the smallest normal, values next to rounding ties,
/// the largest finite, infinities, quiet and signalling NaNs of both signs,
/// integer-conversion bounds, and a few ordinary values.
pub(crate) const SPECIAL_FLOATS: &[u32] = &[
    0x0000_0000, // +0
    0x8000_0000, // -0
    0x0000_0001, // smallest subnormal
    0x8000_0001,
    0x0000_0003,
    0x0040_0000, // a subnormal power of two
    0x007F_FFFF, // largest subnormal
    0x807F_FFFF,
    0x0080_0000, // smallest normal
    0x8080_0000,
    0x0080_0001,
    0x3F80_0000, // 1
    0xBF80_0000, // -1
    0x3F80_0001, // 1 + 2^-23
    0xBF80_0001,
    0x3F7F_FFFF, // 1 - 2^-24
    0x3FC0_0000, // 1.5
    0xBFC0_0000,
    0x3F00_0000, // 0.5
    0xBF00_0000, // -0.5
    0x3400_0000, // 2^-23
    0x3380_0000, // 2^-24
    0x4B00_0000, // 2^23
    0x4B80_0000, // 2^24
    0x4B80_0001, // 2^24 + 2
    0x4EFF_FFFF, // largest float below 2^31
    0x4F00_0000, // 2^31
    0xCF00_0000, // -2^31
    0xCF00_0001,
    0x7F7F_FFFF, // largest finite
    0xFF7F_FFFF,
    0x7F00_0000, // 2^127
    0x7F80_0000, // +inf
    0xFF80_0000, // -inf
    0x7FC0_0000, // canonical quiet NaN
    0xFFC0_0000, // negative quiet NaN
    0x7FC0_0001, // quiet NaN with payload
    0x7F80_0001, // signalling NaN
    0xFF80_0001, // negative signalling NaN
    0x7F80_0386, // signalling NaNs with other payloads
    0x7FBF_FFFF,
    0xFFA5_A5A5,
    0x4049_0FDB, // pi
    0xC2F6_E979, // -123.456
    0x3EAA_AAAB, // 1/3
    0x5F80_0000, // 2^64
    0x1F80_0000, // 2^-64
];

/// Integers (as bit patterns) where conversion to float rounds or saturates.
pub(crate) const SPECIAL_INTS: &[u32] = &[
    0,
    1,
    0xFFFF_FFFF, // -1
    0x0100_0000, // 2^24
    0x0100_0001, // 2^24 + 1: a tie
    0x0100_0003, // 2^24 + 3: a tie, rounds up
    0xFEFF_FFFF, // -(2^24 + 1)
    0x7FFF_FFFF, // i32::MAX
    0x8000_0000, // i32::MIN
    0x8000_0001,
    0x7FFF_FF80,
    0x7FFF_FFC0, // a tie below 2^31
    0x1234_5678,
    0xDEAD_BEEF,
];

/// A random machine about to execute one instruction: everything a step reads,
/// biased towards the cases that matter (legal and illegal encodings, fetch
/// and access faults, the code region's end, float edge values).
#[derive(Clone, Debug)]
pub(crate) struct Scenario {
    /// Program counter.
    pub(crate) pc: u32,
    /// The 8 bytes written at `pc` (rounded down to 8) when it is in code.
    pub(crate) instr: [u8; 8],
    /// Registers, `r0` included (0 in states the VM makes).
    pub(crate) regs: [u32; 32],
    /// Step counter.
    pub(crate) step: u64,
    /// Status and exit code.
    pub(crate) status: Status,
    /// Exit code.
    pub(crate) exit: u32,
    /// Contents of the leaf the instruction would access, if it is a load or a store.
    pub(crate) data: [u8; 32],
    /// Other memory contents, to give the tree some shape.
    pub(crate) junk: Vec<(u32, [u8; 32])>,
}

impl Scenario {
    /// The address of the data leaf: where the instruction would load or store.
    fn data_addr(&self) -> Option<u32> {
        let [_, _, rs1, _, imm @ ..] = self.instr;
        let base = *self.regs.get(usize::from(rs1))?;
        let base = if rs1 == 0 { 0 } else { base };
        Some(base.wrapping_add(u32::from_le_bytes(imm)) & !31)
    }

    /// Puts `machine`, whose memory must be all zero, in this state.
    fn load(&self, machine: &mut Machine) {
        for (addr, bytes) in &self.junk {
            machine.write_bytes(addr & !31, bytes);
        }
        if let Some(addr) = self.data_addr() {
            machine.write_bytes(addr, &self.data);
        }
        if self.pc < CODE_END {
            machine.write_bytes(self.pc & !7, &self.instr);
        }
        machine.core = Core {
            regs: self.regs,
            pc: self.pc,
            step: self.step,
            status: self.status,
            exit: self.exit,
        };
    }

    /// Zeroes every leaf [`Scenario::load`] wrote, and so every leaf the step
    /// can have written.
    fn erase(&self, machine: &mut Machine) {
        let leaves = self.junk.iter().map(|&(addr, _)| addr & !31);
        let code = (self.pc < CODE_END).then_some(self.pc & !31);
        for addr in leaves.chain(self.data_addr()).chain(code) {
            machine.write_bytes(addr, &[0; 32]);
        }
    }
}

/// A verifier and a machine to run scenarios on. A fresh [`Machine`] costs
/// about a millisecond (its page table is allocated, touched and freed), so
/// one machine serves up to [`Workbench::REUSE`] scenarios, each erasing what
/// it wrote; a scenario that panicked leaves it to be replaced.
pub(crate) struct Workbench {
    pub(crate) verifier: StepVerifier,
    machine: Machine,
    uses: u32,
}

impl Workbench {
    /// Scenarios per machine, which bounds the pages a machine accumulates.
    const REUSE: u32 = 64;

    pub(crate) fn new() -> Workbench {
        let verifier = StepVerifier::deploy().expect("deploys");
        Workbench {
            verifier,
            machine: Machine::new(),
            uses: 0,
        }
    }

    /// Runs `f` on a machine in `scenario`'s state.
    pub(crate) fn run<T>(
        &mut self,
        scenario: &Scenario,
        f: impl FnOnce(&mut StepVerifier, &mut Machine) -> T,
    ) -> T {
        if self.uses >= Self::REUSE {
            self.machine = Machine::new();
            self.uses = 0;
        }
        // Counted as used up until it is erased, in case `f` panics.
        let uses = std::mem::replace(&mut self.uses, Self::REUSE);
        scenario.load(&mut self.machine);
        let out = f(&mut self.verifier, &mut self.machine);
        scenario.erase(&mut self.machine);
        self.uses = uses + 1;
        out
    }
}

fn register_field() -> impl Strategy<Value = u8> {
    prop_oneof![12 => 0u8..32, 1 => any::<u8>()]
}

fn opcode() -> impl Strategy<Value = u8> {
    prop_oneof![8 => select(Op::ALL).prop_map(Op::byte), 1 => any::<u8>()]
}

/// A word: random, small, an address near the code region's end, or a float
/// edge value.
pub(crate) fn word() -> impl Strategy<Value = u32> {
    prop_oneof![
        3 => any::<u32>(),
        2 => (-64i32..64).prop_map(|x| x as u32),
        2 => (0u32..512).prop_map(|x| CODE_END.wrapping_add(x).wrapping_sub(256)),
        2 => select(SPECIAL_FLOATS),
    ]
}

fn pc() -> impl Strategy<Value = u32> {
    prop_oneof![
        8 => (0u32..64).prop_map(|i| 8 * i),
        2 => (0..CODE_END / 8).prop_map(|i| 8 * i),
        1 => Just(CODE_END - 8),
        1 => Just(CODE_END),
        1 => any::<u32>(),
        1 => (0u32..512).prop_map(|x| x | 1),
    ]
}

fn status() -> impl Strategy<Value = Status> {
    prop_oneof![8 => Just(Status::Running), 1 => Just(Status::Halted), 1 => Just(Status::Faulted)]
}

impl Arbitrary for Scenario {
    type Parameters = ();
    type Strategy = BoxedStrategy<Scenario>;

    fn arbitrary_with((): ()) -> Self::Strategy {
        let instr = (
            opcode(),
            register_field(),
            register_field(),
            register_field(),
            word(),
        )
            .prop_map(|(op, rd, rs1, rs2, imm)| {
                let imm = imm.to_le_bytes();
                [op, rd, rs1, rs2, imm[0], imm[1], imm[2], imm[3]]
            });
        let regs = proptest::array::uniform32(word()).prop_map(|mut r| {
            r[0] = 0;
            r
        });
        // The step counter stays below u64::MAX: vm.md does not say what a step
        // from u64::MAX gives.
        let step = prop_oneof![Just(0u64), 0u64..1_000_000, 0..u64::MAX];
        let junk = proptest::collection::vec((any::<u32>(), any::<[u8; 32]>()), 0..4);
        (
            pc(),
            instr,
            regs,
            step,
            status(),
            any::<u32>(),
            any::<[u8; 32]>(),
            junk,
        )
            .prop_map(
                |(pc, instr, regs, step, status, exit, data, junk)| Scenario {
                    pc,
                    instr,
                    regs,
                    step,
                    status,
                    exit,
                    data,
                    junk,
                },
            )
            .boxed()
    }
}
