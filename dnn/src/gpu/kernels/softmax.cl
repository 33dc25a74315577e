// Softmax and LogSoftmax (docs/spec/kernels.md): one work item per row,
// x_j in axis order:
//   m = -inf; for j: m = max(m, x_j)
//   s = +0;   for j: e_j = exp(x_j - m); s = s + e_j   (Softmax stores e_j)
//   Softmax:    for j: y_j = y_j / s
//   LogSoftmax: l = log(s); for j: y_j = (x_j - m) - l

// p: X (2), y offset, rows, axis length, inner size, log.
kernel void softmax(KERNEL_ARGS) {
    size_t row = get_global_id(0);
    if (row >= (size_t)p[3]) return;
    int len = p[4], inner = p[5];
    size_t o = row / (size_t)inner, i = row % (size_t)inner;
    size_t base = o * len * inner + i;
    global const uint* x = OPERAND(0) + base;
    global uint* y = act + p[2] + base;
    uint m = 0xFF800000u;
    for (int j = 0; j < len; j++) m = f_max(m, x[j * inner]);
    uint s = 0u;
    for (int j = 0; j < len; j++) {
        uint e = recipe_exp(f_sub(x[j * inner], m));
        if (!p[6]) y[j * inner] = e;
        s = f_add(s, e);
    }
    if (p[6]) {
        uint l = recipe_log(s);
        for (int j = 0; j < len; j++) y[j * inner] = f_sub(f_sub(x[j * inner], m), l);
    } else {
        for (int j = 0; j < len; j++) y[j * inner] = f_div(y[j * inner], s);
    }
}
