// Gather (docs/spec/kernels.md): one work item per output element,
//   q = ftoi(indices[k]); if q < 0: q = q + n
//   y[o, k, i] = data[o, q, i] if 0 <= q < n, else the canonical NaN.

// p: GatherParams (dnn/src/gpu/params.rs).
kernel void gather(KERNEL_ARGS) {
    size_t idx = get_global_id(0);
    if (idx >= (size_t)p[P_GATHER_COUNT]) return;
    size_t inner = (size_t)p[P_GATHER_INNER], count = (size_t)p[P_GATHER_INDEX_COUNT];
    int n = p[P_GATHER_N];
    size_t i = idx % inner, k = (idx / inner) % count, o = idx / inner / count;
    int q = (int)f_ftoi(OPERAND(P_GATHER_INDICES)[k]);
    if (q < 0) q += n;
    act[p[P_GATHER_Y] + idx] = (q >= 0 && q < n)
        ? OPERAND(P_GATHER_DATA)[(o * (size_t)n + (size_t)q) * inner + i]
        : CANONICAL_NAN;
}
