// Gather (docs/spec/kernels.md): one work item per output element,
//   q = ftoi(indices[k]); if q < 0: q = q + n
//   y[o, k, i] = data[o, q, i] if 0 <= q < n, else the canonical NaN.

// p: data (2), indices (2), y offset, count, index count, n, inner size.
kernel void gather(KERNEL_ARGS) {
    size_t idx = get_global_id(0);
    if (idx >= (size_t)p[5]) return;
    size_t inner = (size_t)p[8], count = (size_t)p[6];
    int n = p[7];
    size_t i = idx % inner, k = (idx / inner) % count, o = idx / inner / count;
    int q = (int)f_ftoi(OPERAND(2)[k]);
    if (q < 0) q += n;
    act[p[4] + idx] = (q >= 0 && q < n)
        ? OPERAND(0)[(o * (size_t)n + (size_t)q) * inner + i]
        : CANONICAL_NAN;
}
