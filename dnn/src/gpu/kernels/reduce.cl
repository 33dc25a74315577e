// ReduceSum, ReduceMean, ReduceMax, ReduceMin (docs/spec/kernels.md): for
// every output, acc = init; for every reduced index in row-major order,
// acc = f(acc, x); the mean then divides once by the count.
// The REDUCE_* kind codes come from the launch plans (dnn/src/gpu/launch.rs).

// p: ReduceParams (dnn/src/gpu/params.rs); the kept dims and strides, then
// the reduced dims and strides, from P_REDUCE_KEPT_DIMS.
kernel void reduce(KERNEL_ARGS) {
    size_t idx = get_global_id(0);
    if (idx >= (size_t)p[P_REDUCE_COUNT]) return;
    int kind = p[P_REDUCE_KIND];
    int inner = p[P_REDUCE_REDUCED], kept = p[P_REDUCE_KEPT_RANK];
    int reduced = p[P_REDUCE_REDUCED_RANK];
    global const int* kdims = p + P_REDUCE_KEPT_DIMS;
    global const int* rdims = kdims + 2 * kept;
    global const uint* x = OPERAND(P_REDUCE_X) + strided(idx, kept, kdims, kdims + kept);
    uint acc = kind == REDUCE_MAX ? 0xFF800000u : kind == REDUCE_MIN ? 0x7F800000u : 0u;
    for (int r = 0; r < inner; r++) {
        uint v = x[strided((size_t)r, reduced, rdims, rdims + reduced)];
        acc = kind == REDUCE_MAX ? f_max(acc, v) : kind == REDUCE_MIN ? f_min(acc, v) : f_add(acc, v);
    }
    if (kind == REDUCE_MEAN) acc = f_div(acc, (uint)p[P_REDUCE_DIVISOR]);
    act[p[P_REDUCE_Y] + idx] = acc;
}

// ArgMax and ArgMin along one axis (docs/spec/kernels.md): best = x[0],
// idx = 0; for k = 1..n: t = arg_take(best, x[k]), both selected by the
// mask 0 - t; the index as binary32. p: ArgMaxParams.
kernel void argmax(KERNEL_ARGS) {
    size_t i = get_global_id(0);
    if (i >= (size_t)p[P_ARGMAX_COUNT]) return;
    int n = p[P_ARGMAX_N], inner = p[P_ARGMAX_INNER];
    uint code = (uint)p[P_ARGMAX_TAKE];
    size_t o = i / (size_t)inner, j = i % (size_t)inner;
    global const uint* x = OPERAND(P_ARGMAX_X) + o * (size_t)n * (size_t)inner + j;
    uint best = x[0], idx = 0u;
    for (int k = 1; k < n; k++) {
        uint v = x[(size_t)k * (size_t)inner];
        uint m = 0u - arg_take(code, best, v);
        best = (v & m) | (best & (m ^ 0xFFFFFFFFu));
        idx = ((uint)k & m) | (idx & (m ^ 0xFFFFFFFFu));
    }
    act[p[P_ARGMAX_Y] + i] = f_itof(idx);
}
