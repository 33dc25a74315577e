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

// p: UnaryParams (dnn/src/gpu/params.rs).
kernel void unary(KERNEL_ARGS) {
    size_t i = get_global_id(0);
    if (i >= (size_t)p[P_UNARY_COUNT]) return;
    global const uint* x = OPERAND(P_UNARY_X);
    act[p[P_UNARY_Y] + i] =
        unary_apply((uint)p[P_UNARY_OP], x[i], (uint)p[P_UNARY_A0], (uint)p[P_UNARY_A1]);
}

// p: BinaryParams (dnn/src/gpu/params.rs); the output dims, a's and b's
// broadcast strides, rank each, from P_BINARY_DIMS.
kernel void binary(KERNEL_ARGS) {
    size_t i = get_global_id(0);
    if (i >= (size_t)p[P_BINARY_COUNT]) return;
    int rank = p[P_BINARY_RANK];
    global const int* dims = p + P_BINARY_DIMS;
    global const uint* a = OPERAND(P_BINARY_A);
    global const uint* b = OPERAND(P_BINARY_B);
    uint x = a[strided(i, rank, dims, dims + rank)];
    uint y = b[strided(i, rank, dims, dims + 2 * rank)];
    act[p[P_BINARY_Y] + i] = binary_apply((uint)p[P_BINARY_OP], x, y);
}

// p: WhereParams (dnn/src/gpu/params.rs); the output dims, then c's, x's
// and y's broadcast strides, rank each, from P_CHOOSE_DIMS.
kernel void choose(KERNEL_ARGS) {
    size_t i = get_global_id(0);
    if (i >= (size_t)p[P_CHOOSE_COUNT]) return;
    int rank = p[P_CHOOSE_RANK];
    global const int* dims = p + P_CHOOSE_DIMS;
    global const uint* c = OPERAND(P_CHOOSE_C);
    global const uint* x = OPERAND(P_CHOOSE_X);
    global const uint* y = OPERAND(P_CHOOSE_Y);
    uint cv = c[strided(i, rank, dims, dims + rank)];
    uint xv = x[strided(i, rank, dims, dims + 2 * rank)];
    uint yv = y[strided(i, rank, dims, dims + 3 * rank)];
    act[p[P_CHOOSE_OUT] + i] = where_apply(cv, xv, yv);
}
