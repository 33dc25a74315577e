// Elementwise ops (docs/spec/kernels.md, "Elementwise unary" and
// "Elementwise binary"): one work item per output, y[i] = f(x[i]).

// LeakyRelu: x < 0 ? x * alpha : x, selected with a mask exactly as
// Scalar::select does: mask = 0 - c; (x*alpha & mask) | (x & (mask ^ ~0)).
uint leaky_relu(uint x, uint alpha) {
    uint neg = f_lt(x, 0u);
    uint scaled = f_mul(x, alpha);
    uint mask = 0u - neg;
    uint keep = scaled & mask;
    uint inverse = mask ^ 0xFFFFFFFFu;
    uint other = x & inverse;
    return keep | other;
}

uint unary_apply(uint op, uint x, uint a0, uint a1) {
    if (op == UNARY_LEAKY_RELU) return leaky_relu(x, a0);
    if (op == UNARY_CLIP) return f_min(f_max(x, a0), a1);
    return unary_generated(op, x);
}

// p: x operand (2), y offset, count, op code, two parameters.
kernel void unary(KERNEL_ARGS) {
    size_t i = get_global_id(0);
    if (i >= (size_t)p[3]) return;
    global const uint* x = OPERAND(0);
    act[p[2] + i] = unary_apply((uint)p[4], x[i], (uint)p[5], (uint)p[6]);
}

// p: a operand (2), b operand (2), y offset, count, op code, rank, then
// the output dims, a's and b's broadcast strides (rank each).
kernel void binary(KERNEL_ARGS) {
    size_t i = get_global_id(0);
    if (i >= (size_t)p[5]) return;
    int rank = p[7];
    global const int* dims = p + 8;
    global const uint* a = OPERAND(0);
    global const uint* b = OPERAND(2);
    uint x = a[strided(i, rank, dims, dims + rank)];
    uint y = b[strided(i, rank, dims, dims + 2 * rank)];
    act[p[4] + i] = binary_apply((uint)p[6], x, y);
}
