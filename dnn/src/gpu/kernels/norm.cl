// LayerNormalization and RmsNorm (docs/spec/kernels.md): one work item per
// row, x_j in row-major order of the normalised block, n as binary32:
//   LayerNorm: s = +0; for j: s = s + x_j;  m = s / n
//              q = +0; for j: d = x_j - m; q = q + d * d
//   RmsNorm:   q = +0; for j: q = q + x_j * x_j
//   r = 1 / sqrt(q / n + eps)
//   for j: y_j = (x_j - m) * r  (RmsNorm: x_j * r); then * g_j; then + b_j

// p: X (2), scale (2), bias (2), y offset, rows, block length, inner size,
// layer (1) or rms (0), has scale, has bias, n as binary32, eps.
kernel void norm(KERNEL_ARGS) {
    size_t row = get_global_id(0);
    if (row >= (size_t)p[7]) return;
    int len = p[8], inner = p[9], layer = p[10];
    size_t o = row / (size_t)inner, i = row % (size_t)inner;
    size_t base = o * len * inner + i;
    global const uint* x = OPERAND(0) + base;
    global const uint* g = OPERAND(2);
    global const uint* b = OPERAND(4);
    global uint* y = act + p[6] + base;
    uint n = (uint)p[13];
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
    uint r = f_div(0x3F800000u, f_sqrt(f_add(f_div(q, n), (uint)p[14])));
    for (int j = 0; j < len; j++) {
        uint v = layer ? f_sub(x[j * inner], m) : x[j * inner];
        v = f_mul(v, r);
        if (p[11]) v = f_mul(v, g[j]);
        if (p[12]) v = f_add(v, b[j]);
        y[j * inner] = v;
    }
}
