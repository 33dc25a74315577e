// Conv (docs/spec/kernels.md): over the (padded) input Xp, for every output
// (n, oc, oh, ow), g = oc / (OC/G):
//   acc = +0
//   for ic, kh, kw (kw fastest):
//       acc = fma(Xp[n, g*C/G + ic, oh*sh + kh*dh, ow*sw + kw*dw], W[oc, ic, kh, kw], acc)
//   if B: acc = acc + B[oc]
// The padded copy is made beforehand by copy_strided.

// p: Xp (2), W (2), B (2), has B, y offset, count, C, HP, WP, OC, G, KH, KW,
// OH, OW, sh, sw, dh, dw.
kernel void conv(KERNEL_ARGS) {
    size_t idx = get_global_id(0);
    if (idx >= (size_t)p[8]) return;
    int c = p[9], hp = p[10], wp = p[11], oc_n = p[12], g_n = p[13];
    int kh_n = p[14], kw_n = p[15], oh_n = p[16], ow_n = p[17];
    int sh = p[18], sw = p[19], dh = p[20], dw = p[21];
    int ow = (int)(idx % (size_t)ow_n);
    int oh = (int)((idx / (size_t)ow_n) % (size_t)oh_n);
    int oc = (int)((idx / ((size_t)ow_n * oh_n)) % (size_t)oc_n);
    int n = (int)(idx / ((size_t)ow_n * oh_n * oc_n));
    int cg = c / g_n;
    int g = oc / (oc_n / g_n);
    global const uint* x = OPERAND(0);
    global const uint* w = OPERAND(2) + oc * cg * kh_n * kw_n;
    float acc = 0.0f;
    for (int ic = 0; ic < cg; ic++) {
        global const uint* plane = x + ((n * c) + g * cg + ic) * hp * wp;
        for (int kh = 0; kh < kh_n; kh++) {
            global const uint* row = plane + (oh * sh + kh * dh) * wp + ow * sw;
            for (int kw = 0; kw < kw_n; kw++) {
                acc = fma(as_float(row[kw * dw]), as_float(*w), acc);
                w++;
            }
        }
    }
    uint y = canon(acc);
    if (p[6]) y = f_add(y, OPERAND(4)[oc]);
    act[p[7] + idx] = y;
}
