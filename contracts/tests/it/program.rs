//! A whole program: the VM runs a float dot product and every one of its
//! steps, the final fixed point included, is proven and checked in revm.

use verdict_contracts::StepVerifier;
use verdict_vm::builder::Builder;
use verdict_vm::{CODE_END, Machine, Op, Status, semantics};

use crate::common::check_machine_step;

const N: u32 = 24;

#[test]
fn dot_product_every_step() {
    // x lives with the code (constants, read-only), y in data memory.
    let x_addr = 0x1000;
    let y_addr = CODE_END + 0x2000;
    let out_addr = CODE_END + 0x4000;
    let xs: Vec<u32> = (0..N)
        .map(|i| (((i % 7) as f32 - 3.0) * 0.37).to_bits())
        .collect();
    let ys: Vec<u32> = (0..N).map(|i| ((i as f32 + 1.0) / 3.0).to_bits()).collect();

    // r1 = &x, r2 = &y, r3 = acc; acc = fma(x[k], y[k], acc); then store acc.
    let mut b = Builder::new();
    b.li(1, x_addr);
    b.li(2, y_addr);
    b.repeat(10, N, |b| {
        b.load(Op::Lw, 4, 1, 0);
        b.load(Op::Lw, 5, 2, 0);
        b.float(Op::Fmadd, 3, 4, 5);
        b.addi(1, 1, 4);
        b.addi(2, 2, 4);
    });
    b.li(6, out_addr);
    b.store(Op::Sw, 3, 6, 0);
    b.halt(3, 0);
    let code = b.finish().expect("the program is well formed");

    let mut m = Machine::new();
    m.load_program(&code);
    let le = |v: &[u32]| v.iter().flat_map(|w| w.to_le_bytes()).collect::<Vec<u8>>();
    m.write_bytes(x_addr, &le(&xs));
    m.write_bytes(y_addr, &le(&ys));

    let mut verifier = StepVerifier::deploy().expect("deploys");
    let mut steps = 0;
    while m.core.status == Status::Running {
        check_machine_step(&mut verifier, &mut m);
        steps += 1;
    }
    check_machine_step(&mut verifier, &mut m);

    let expected = xs
        .iter()
        .zip(&ys)
        .fold(0, |acc, (&x, &y)| semantics::f32_fma(x, y, acc));
    assert_eq!(m.core.status, Status::Halted);
    assert_eq!(
        m.core.exit, expected,
        "the program computes the dot product"
    );
    assert_eq!(m.read_bytes(out_addr, 4), expected.to_le_bytes());
    assert_eq!(steps, 2 + 1 + 7 * N + 3);
}
