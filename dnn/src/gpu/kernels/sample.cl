// Sample (docs/spec/kernels.md, dnn/src/ops/sample.rs): one work item does
// every row in order, each step as the VM does it.

uint sample_mass(uint acc, uint a, uint b, uint w) {
    return f_add(acc, (f_le(a, w) & f_le(b, w)) ? w : 0u);
}

// p: SampleParams (dnn/src/gpu/params.rs).
kernel void sample(KERNEL_ARGS) {
    if (get_global_id(0) != 0) return;
    int rows = p[P_SAMPLE_ROWS], v = p[P_SAMPLE_V];
    global const uint* par = OPERAND(P_SAMPLE_PARAMS);
    global uint* w = act + p[P_SAMPLE_W];
    uint t = f_ftoi(par[2]), k = f_ftoi(par[3]), q = f_ftoi(par[4]);
    uint seed = f_ftoi(par[0]) + (f_ftoi(par[1]) << 16);
    uint kk = (k < 1u || (uint)v < k) ? (uint)v : k;
    uint temperature = f_div(f_itof(t), 0x447A0000u);   // 1000
    uint share = f_div(f_itof(q), 0x461C4000u);         // 10000
    uint counter = (uint)p[P_SAMPLE_STEP] * (uint)rows;
    for (int r = 0; r < rows; r++, counter++) {
        global const uint* x = OPERAND(P_SAMPLE_X) + (size_t)r * (size_t)v;
        uint best = x[0], g = 0u;
        for (int i = 1; i < v; i++) {
            if (arg_take(0u, best, x[i])) { best = x[i]; g = (uint)i; }
        }
        uint m = 0xFF800000u;
        for (int i = 0; i < v; i++) m = f_max(m, f_div(x[i], temperature));
        for (int i = 0; i < v; i++) w[i] = recipe_exp(f_sub(f_div(x[i], temperature), m));
        uint lo = 0u, hi = 0x3F800001u;
        for (int round = 0; round < 30; round++) {
            uint mid = (lo + hi) >> 1, n = 0u;
            for (int i = 0; i < v; i++) n += f_le(mid, w[i]);
            if (n >= kk) lo = mid; else hi = mid;
        }
        uint tk = lo, sk = 0u;
        for (int i = 0; i < v; i++) sk = sample_mass(sk, tk, tk, w[i]);
        uint target = f_mul(share, sk);
        lo = 0u; hi = 0x3F800001u;
        for (int round = 0; round < 30; round++) {
            uint mid = (lo + hi) >> 1, acc = 0u;
            for (int i = 0; i < v; i++) acc = sample_mass(acc, mid, tk, w[i]);
            if (f_le(target, acc)) lo = mid; else hi = mid;
        }
        uint tau = tk < lo ? lo : tk, total = 0u;
        for (int i = 0; i < v; i++) total = sample_mass(total, tau, tau, w[i]);
        uint h = seed + 0x9E3779B9u * (counter + 1u);
        h ^= h >> 16; h *= 0x85EBCA6Bu; h ^= h >> 13; h *= 0xC2B2AE35u; h ^= h >> 16;
        uint u = f_mul(total, f_mul(f_itof(h >> 8), 0x33800000u));   // 2^-24
        uint c = 0u, chosen = 0u, found = 0u, last = 0u;
        for (int i = 0; i < v; i++) {
            uint keep = f_le(tau, w[i]);
            uint next = sample_mass(c, tau, tau, w[i]);
            if (keep && f_lt(u, next) && !found) { chosen = (uint)i; found = 1u; }
            if (keep) last = (uint)i;
            c = next;
        }
        uint y = t < 1u ? g : (found ? chosen : last);
        act[p[P_SAMPLE_Y] + r] = f_itof(y);
    }
}
