// The VM's arithmetic on 32-bit patterns (docs/spec/vm.md): binary32, round
// to nearest even, subnormals kept, every NaN result the canonical
// 0x7FC00000. Each f_* helper is one VM float instruction; kernels keep each
// output's own sequence of them (docs/spec/kernels.md).
//
// Built without -cl-fast-relaxed-math, -cl-mad-enable or
// -cl-denorms-are-zero, and with -cl-fp32-correctly-rounded-divide-sqrt.
#pragma OPENCL FP_CONTRACT OFF

#define CANONICAL_NAN 0x7FC00000u
#define SIGN_BIT 0x80000000u
#define MAGNITUDE 0x7FFFFFFFu

// Every kernel takes the activation arena (input, output, activations and
// scratch, word 0 at VM address CODE_END), the weights (word 0 at
// WEIGHTS_BASE) and its parameter block p. Each block is declared in
// dnn/src/gpu/params.rs, which generates the index of every slot as
// P_<KERNEL>_<SLOT>: kernels read slots by name, as p[P_GEMM_M].
#define KERNEL_ARGS global uint* act, global const uint* wts, global const int* p

// An input operand: slot `at` says which buffer (0 the arena, 1 the
// weights), the next the word offset in it.
#define OPERAND(at) ((p[(at)] ? wts : (global const uint*)act) + p[(at) + 1])

// NaN is decided on the bits, never by isnan() or a float compare: a
// compiler may treat NaN payloads as unspecified and fold
// `isnan(r) ? NaN : r` into `r`, keeping a signalling input's payload.
int is_nan_bits(uint a) { return (a & MAGNITUDE) > 0x7F800000u; }
uint canon(float x) {
    uint bits = as_uint(x);
    return is_nan_bits(bits) ? CANONICAL_NAN : bits;
}

uint f_add(uint a, uint b) { return canon(as_float(a) + as_float(b)); }
uint f_sub(uint a, uint b) { return canon(as_float(a) - as_float(b)); }
uint f_mul(uint a, uint b) { return canon(as_float(a) * as_float(b)); }
uint f_div(uint a, uint b) { return canon(as_float(a) / as_float(b)); }
uint f_fma(uint a, uint b, uint c) { return canon(fma(as_float(a), as_float(b), as_float(c))); }
uint f_sqrt(uint a) { return canon(sqrt(as_float(a))); }

// IEEE 754-2019 minimum / maximum, as verdict_vm::semantics::f32_min/max.
uint f_min(uint a, uint b) {
    if (is_nan_bits(a) || is_nan_bits(b)) return CANONICAL_NAN;
    if (((a | b) & MAGNITUDE) == 0u) return a | b;
    return as_float(b) < as_float(a) ? b : a;
}
uint f_max(uint a, uint b) {
    if (is_nan_bits(a) || is_nan_bits(b)) return CANONICAL_NAN;
    if (((a | b) & MAGNITUDE) == 0u) return a & b;
    return as_float(b) > as_float(a) ? b : a;
}

uint f_eq(uint a, uint b) { return as_float(a) == as_float(b) ? 1u : 0u; }
uint f_lt(uint a, uint b) { return as_float(a) < as_float(b) ? 1u : 0u; }
uint f_le(uint a, uint b) { return as_float(a) <= as_float(b) ? 1u : 0u; }
// Toward zero, saturating, NaN gives 0.
uint f_ftoi(uint a) { return (uint)convert_int_sat_rtz(as_float(a)); }
uint f_itof(uint a) { return as_uint(convert_float_rte((int)a)); }

uint i_sll(uint a, uint b) { return a << (b & 31u); }
uint i_srl(uint a, uint b) { return a >> (b & 31u); }
uint i_sra(uint a, uint b) { return (uint)((int)a >> (b & 31u)); }
uint i_slt(uint a, uint b) { return (int)a < (int)b ? 1u : 0u; }
uint i_sltu(uint a, uint b) { return a < b ? 1u : 0u; }

// Decomposes the row-major index `i` over `rank` dimensions at `dims` and
// returns the offset with the strides at `strides`.
int strided(size_t i, int rank, global const int* dims, global const int* strides) {
    int off = 0;
    for (int d = rank - 1; d >= 0; d--) {
        int n = dims[d];
        off += (int)(i % (size_t)n) * strides[d];
        i /= (size_t)n;
    }
    return off;
}

// Integer division and remainder as the VM defines them for a zero divisor
// and for i32::MIN / -1.
uint i_div(uint a, uint b) {
    if (b == 0u) return 0xFFFFFFFFu;
    if (a == 0x80000000u && b == 0xFFFFFFFFu) return a;
    return (uint)((int)a / (int)b);
}
uint i_divu(uint a, uint b) { return b == 0u ? 0xFFFFFFFFu : a / b; }
uint i_rem(uint a, uint b) {
    if (b == 0u) return a;
    if (a == 0x80000000u && b == 0xFFFFFFFFu) return 0u;
    return (uint)((int)a % (int)b);
}
uint i_remu(uint a, uint b) { return b == 0u ? a : a % b; }
