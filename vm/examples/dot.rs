//! Runs a float dot product on the VM, checks it against the native result,
//! and proves and verifies a few of its steps.
//!
//! `cargo run --release -p verdict-vm --example dot [-- LENGTH]`

use std::time::Instant;

use verdict_vm::builder::Builder;
use verdict_vm::{CODE_END, Machine, Op, Status, semantics, verify_step};

fn main() {
    let n: u32 = std::env::args()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(100_000);
    let x_addr = CODE_END;
    let y_addr = CODE_END + 4 * n.next_power_of_two();
    let xs: Vec<f32> = (0..n).map(|i| ((i % 17) as f32 - 8.0) * 0.125).collect();
    let ys: Vec<f32> = (0..n).map(|i| ((i % 13) as f32 + 1.0) / 3.0).collect();

    // r1 = &x, r2 = &y, r3 = acc; acc = fma(x[k], y[k], acc) for k = 0..n.
    let mut b = Builder::new();
    b.li(1, x_addr);
    b.li(2, y_addr);
    b.repeat(10, n, |b| {
        b.load(Op::Lw, 4, 1, 0);
        b.load(Op::Lw, 5, 2, 0);
        b.float(Op::Fmadd, 3, 4, 5);
        b.addi(1, 1, 4);
        b.addi(2, 2, 4);
    });
    b.halt(3, 0);
    let code = b.finish().expect("the program is well formed");

    let mut vm = Machine::new();
    vm.load_program(&code);
    let bytes = |v: &[f32]| v.iter().flat_map(|f| f.to_le_bytes()).collect::<Vec<u8>>();
    vm.write_bytes(x_addr, &bytes(&xs));
    vm.write_bytes(y_addr, &bytes(&ys));

    let start_hash = vm.state_hash();
    let mut proofs = Vec::new();
    for _ in 0..8 {
        let proof = vm.prove_step();
        proofs.push(proof);
    }
    let t = Instant::now();
    let steps = vm.run(u64::MAX);
    let elapsed = t.elapsed();
    assert_eq!(vm.core.status, Status::Halted, "the program halts");

    let expected = xs.iter().zip(&ys).fold(0u32, |acc, (x, y)| {
        semantics::f32_fma(x.to_bits(), y.to_bits(), acc)
    });
    println!("dot product of {n} elements on the VM");
    println!(
        "  result      {} ({:#010x})",
        f32::from_bits(vm.core.exit),
        vm.core.exit
    );
    println!(
        "  native      {} ({expected:#010x})",
        f32::from_bits(expected)
    );
    println!("  steps       {}", vm.core.step);
    println!(
        "  time        {:.1} ms, {:.1} M steps/s",
        elapsed.as_secs_f64() * 1e3,
        steps as f64 / elapsed.as_secs_f64() / 1e6
    );
    println!("  start state {start_hash}");
    println!("  final state {}", vm.state_hash());
    for p in &proofs {
        let bytes = p.to_bytes();
        verify_step(p.pre_state_hash(), &bytes).expect("an honest proof verifies");
    }
    println!(
        "  verified    {} step proofs of {} bytes",
        proofs.len(),
        verdict_vm::PROOF_SIZE
    );
    if vm.core.exit != expected {
        eprintln!("mismatch between the VM and the native result");
        std::process::exit(1);
    }
}
