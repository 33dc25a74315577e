//! VM faults: values in the state, never Rust errors.

/// Why a step faulted. The discriminant is the stable fault code stored in the
/// state's `exit` field (docs/spec/vm.md §4).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum Fault {
    /// Unknown opcode, or a register field of 32 or more.
    IllegalInstruction = 1,
    /// The program counter is misaligned or outside the code region.
    BadFetch = 2,
    /// A word access at an address that is not a multiple of 4.
    MisalignedAccess = 3,
    /// A store into the read-only code region.
    StoreToCode = 4,
}

impl Fault {
    /// Every fault, in code order.
    pub const ALL: [Fault; 4] = [
        Fault::IllegalInstruction,
        Fault::BadFetch,
        Fault::MisalignedAccess,
        Fault::StoreToCode,
    ];

    /// The stable code stored in the state.
    pub const fn code(self) -> u32 {
        self as u32
    }

    /// The fault with this code, if any.
    pub fn from_code(code: u32) -> Option<Fault> {
        Fault::ALL.into_iter().find(|f| f.code() == code)
    }
}
