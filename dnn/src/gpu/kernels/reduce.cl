// ReduceSum, ReduceMean, ReduceMax, ReduceMin (docs/spec/kernels.md): for
// every output, acc = init; for every reduced index in row-major order,
// acc = f(acc, x); the mean then divides once by the count.
// The REDUCE_* kind codes come from the launch plans (dnn/src/gpu/launch.rs).

// p: X (2), y offset, count, kind, count as binary32, reduced elements,
// kept rank, reduced rank, then the kept dims and strides, the reduced dims
// and strides.
kernel void reduce(KERNEL_ARGS) {
    size_t idx = get_global_id(0);
    if (idx >= (size_t)p[3]) return;
    int kind = p[4];
    int inner = p[6], kept = p[7], reduced = p[8];
    global const int* kdims = p + 9;
    global const int* rdims = kdims + 2 * kept;
    global const uint* x = OPERAND(0) + strided(idx, kept, kdims, kdims + kept);
    uint acc = kind == REDUCE_MAX ? 0xFF800000u : kind == REDUCE_MIN ? 0x7F800000u : 0u;
    for (int r = 0; r < inner; r++) {
        uint v = x[strided((size_t)r, reduced, rdims, rdims + reduced)];
        acc = kind == REDUCE_MAX ? f_max(acc, v) : kind == REDUCE_MIN ? f_min(acc, v) : f_add(acc, v);
    }
    if (kind == REDUCE_MEAN) acc = f_div(acc, (uint)p[5]);
    act[p[2] + idx] = acc;
}
