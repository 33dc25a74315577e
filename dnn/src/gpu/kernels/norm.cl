// LayerNormalization and RmsNorm (docs/spec/kernels.md): one work item per
// row, x_j in row-major order of the normalised block, n as binary32:
//   LayerNorm: s = +0; for j: s = s + x_j;  m = s / n
//              q = +0; for j: d = x_j - m; q = q + d * d
//   RmsNorm:   q = +0; for j: q = q + x_j * x_j
//   r = 1 / sqrt(q / n + eps)
//   for j: y_j = (x_j - m) * r  (RmsNorm: x_j * r); then * g_j; then + b_j

// p: NormParams (dnn/src/gpu/params.rs).
kernel void norm(KERNEL_ARGS) {
    size_t row = get_global_id(0);
    if (row >= (size_t)p[P_NORM_ROWS]) return;
    int len = p[P_NORM_LEN], inner = p[P_NORM_INNER], layer = p[P_NORM_LAYER];
    size_t o = row / (size_t)inner, i = row % (size_t)inner;
    size_t base = o * len * inner + i;
    global const uint* x = OPERAND(P_NORM_X) + base;
    global const uint* g = OPERAND(P_NORM_SCALE);
    global const uint* b = OPERAND(P_NORM_BIAS);
    global uint* y = act + p[P_NORM_Y] + base;
    uint n = (uint)p[P_NORM_N];
    uint m = 0u;
    if (layer) {
        for (int j = 0; j < len; j++) m = f_add(m, x[j * inner]);
        m = f_div(m, n);
    }
    uint q = 0u;
    for (int j = 0; j < len; j++) {
        uint d = layer ? f_sub(x[j * inner], m) : x[j * inner];
        q = f_add(q, f_mul(d, d));
    }
    uint r = f_div(0x3F800000u, f_sqrt(f_add(f_div(q, n), (uint)p[P_NORM_EPS])));
    for (int j = 0; j < len; j++) {
        uint v = layer ? f_sub(x[j * inner], m) : x[j * inner];
        v = f_mul(v, r);
        if (p[P_NORM_HAS_SCALE]) v = f_mul(v, g[j]);
        if (p[P_NORM_HAS_BIAS]) v = f_add(v, b[j]);
        y[j * inner] = v;
    }
}
