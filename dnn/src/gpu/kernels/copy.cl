// Data movement (docs/spec/kernels.md, "Reshape", "Transpose, Slice,
// Concat, Pad" and the padded copies of Conv and pooling): word copies, no
// arithmetic, NaN payloads kept.

// p: source operand (2), destination offset, count, rank, then the dims,
// the source strides and the destination strides (rank each).
kernel void copy_strided(KERNEL_ARGS) {
    size_t i = get_global_id(0);
    if (i >= (size_t)p[3]) return;
    int rank = p[4];
    global const int* dims = p + 5;
    global const uint* src = OPERAND(0);
    act[p[2] + strided(i, rank, dims, dims + 2 * rank)] = src[strided(i, rank, dims, dims + rank)];
}

// p: destination offset, count, value.
kernel void fill(KERNEL_ARGS) {
    size_t i = get_global_id(0);
    if (i >= (size_t)p[1]) return;
    act[p[0] + i] = (uint)p[2];
}
