// Data movement (docs/spec/kernels.md, "Reshape", "Transpose, Slice,
// Concat, Pad" and the padded copies of Conv and pooling): word copies, no
// arithmetic, NaN payloads kept.

// p: CopyParams (dnn/src/gpu/params.rs); the dims, the source strides and
// the destination strides, rank each, from P_COPY_STRIDED_DIMS.
kernel void copy_strided(KERNEL_ARGS) {
    size_t i = get_global_id(0);
    if (i >= (size_t)p[P_COPY_STRIDED_COUNT]) return;
    int rank = p[P_COPY_STRIDED_RANK];
    global const int* dims = p + P_COPY_STRIDED_DIMS;
    global const uint* src = OPERAND(P_COPY_STRIDED_SRC);
    act[p[P_COPY_STRIDED_DST] + strided(i, rank, dims, dims + 2 * rank)] =
        src[strided(i, rank, dims, dims + rank)];
}

// p: FillParams (dnn/src/gpu/params.rs).
kernel void fill(KERNEL_ARGS) {
    size_t i = get_global_id(0);
    if (i >= (size_t)p[P_FILL_COUNT]) return;
    act[p[P_FILL_DST] + i] = (uint)p[P_FILL_VALUE];
}

// Decode (docs/spec/kernels.md): value i is the width-byte little-endian
// unsigned integer at byte i*width of the packed input words (a value
// never straddles a word), widened exactly by itof.
// p: DecodeParams (dnn/src/gpu/params.rs).
kernel void decode(KERNEL_ARGS) {
    size_t i = get_global_id(0);
    if (i >= (size_t)p[P_DECODE_COUNT]) return;
    size_t byte = i * (size_t)p[P_DECODE_WIDTH];
    uint mask = p[P_DECODE_WIDTH] == 1 ? 0xFFu : 0xFFFFu;
    uint v = (OPERAND(P_DECODE_X)[byte / 4] >> (8 * (byte % 4))) & mask;
    act[p[P_DECODE_Y] + i] = f_itof(v);
}
