// Pooling (docs/spec/kernels.md): over the (padded) input Xp, for every
// output (n, c, oh, ow):
//   max:     acc = -inf; for kh, kw (kw fastest): acc = max(acc, Xp[...])
//   average: acc = +0;   for kh, kw: acc = acc + Xp[...];  acc = acc / d
// d is a constant, or read from the divisor table [OH, OW].

// p: Xp (2), divisors (2), has divisors, y offset, count, HP, WP, OH, OW,
// KH, KW, sh, sw, dh, dw, is max, constant divisor.
kernel void pool(KERNEL_ARGS) {
    size_t idx = get_global_id(0);
    if (idx >= (size_t)p[6]) return;
    int hp = p[7], wp = p[8], oh_n = p[9], ow_n = p[10], kh_n = p[11], kw_n = p[12];
    int sh = p[13], sw = p[14], dh = p[15], dw = p[16];
    int is_max = p[17];
    int ow = (int)(idx % (size_t)ow_n);
    int oh = (int)((idx / (size_t)ow_n) % (size_t)oh_n);
    size_t plane = idx / ((size_t)ow_n * oh_n);
    global const uint* x = OPERAND(0) + plane * hp * wp;
    uint acc = is_max ? 0xFF800000u : 0u;
    for (int kh = 0; kh < kh_n; kh++) {
        global const uint* row = x + (oh * sh + kh * dh) * wp + ow * sw;
        for (int kw = 0; kw < kw_n; kw++) {
            uint v = row[kw * dw];
            acc = is_max ? f_max(acc, v) : f_add(acc, v);
        }
    }
    if (!is_max) {
        uint d = p[4] ? OPERAND(2)[oh * ow_n + ow] : (uint)p[18];
        acc = f_div(acc, d);
    }
    act[p[5] + idx] = acc;
}
