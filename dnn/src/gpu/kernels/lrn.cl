// LRN (docs/spec/kernels.md): one work item per element (n, c, i), the
// window c - (size-1)/2 ..= c + size/2 clipped to the channels:
//   s = +0; for c' in the window: s = s + x[n,c',i] * x[n,c',i]
//   t = k * s; t = bias + t; y = x[n,c,i] / pow(t, beta)     k = alpha / size

// p: X (2), y offset, count, channels, inner size, size, k, bias, beta.
kernel void lrn(KERNEL_ARGS) {
    size_t idx = get_global_id(0);
    if (idx >= (size_t)p[3]) return;
    int channels = p[4], inner = p[5], size = p[6];
    int i = (int)(idx % (size_t)inner);
    int c = (int)((idx / (size_t)inner) % (size_t)channels);
    size_t n = idx / ((size_t)inner * channels);
    global const uint* x = OPERAND(0) + n * channels * inner + i;
    int lo = max(c - (size - 1) / 2, 0), hi = min(c + size / 2, channels - 1);
    uint s = 0u;
    for (int w = lo; w <= hi; w++) {
        uint v = x[w * inner];
        s = f_add(s, f_mul(v, v));
    }
    uint t = f_add((uint)p[8], f_mul((uint)p[7], s));
    act[p[2] + idx] = f_div(x[c * inner], binary_apply(BINARY_POW, t, (uint)p[9]));
}
