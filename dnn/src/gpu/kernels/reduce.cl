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
