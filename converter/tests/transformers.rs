//! Transformers as `torch.onnx.export` writes them: the tiny GPT-2, BERT
//! and Llama exports of `models/transformers` (see its README), GPT-2 with
//! fixed and dynamic sequence lengths and with a KV cache, convert, give
//! torch's outputs on the native engine, and the VM gives the native
//! engine's bits.

use std::path::{Path, PathBuf};

use verdict_converter::generate::{Generate, convert_generation};
use verdict_converter::tensor_io::{Pixels, read_input};
use verdict_converter::{ConvertError, InputShape, Inputs, Preprocess, convert_file};
use verdict_dnn::engine::Compiled;
use verdict_dnn::ir::split;
use verdict_dnn::ops::OpKind;
use verdict_dnn::ops::decode::Encoding;
use verdict_dnn::ops::unary::{Unary, UnaryOp};

fn dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../models/transformers")
}

/// Converts `gpt2_tiny_{name}.onnx` for the first `len` of its 16 reference
/// token ids, runs it on both engines and compares with torch's logits for
/// them (the model is causal: a prefix's logits are those of the whole
/// sequence's first positions).
fn check_export(name: &str, len: usize) {
    let dir = dir();
    let model = dir.join(format!("gpt2_tiny_{name}.onnx"));
    let inputs = Inputs::from(vec![InputShape {
        name: Some("input_ids".into()),
        dims: vec![1, len],
    }]);
    let converted =
        convert_file(&model, &inputs, &mut |_, _| {}).unwrap_or_else(|e| panic!("{name}: {e}"));
    // The LM head reads the token embedding's table where it is stored:
    // the package holds no more values than the model's 541,184 parameters.
    let stored: usize = converted
        .model
        .tensors
        .iter()
        .filter_map(|t| t.data.as_ref().map(|d| d.len()))
        .sum();
    assert!(stored <= 541_184, "{name}: {stored} values stored");
    // GELU's tanh chain (GPT-2's `NewGELU`) is one op a layer.
    let ops = |op: UnaryOp| {
        let op = OpKind::Unary(Unary { op });
        converted.model.nodes.iter().filter(|n| n.op == op).count()
    };
    assert_eq!(
        (ops(UnaryOp::GeluTanh), ops(UnaryOp::Tanh)),
        (2, 0),
        "{name}"
    );
    // Attention's two products are one batched Gemm each over the 4 heads,
    // nothing sliced or concatenated per head: per layer the query, key
    // and value projections, two products, the output projection and the
    // MLP's two; then the LM head.
    let named = |kind: &str| {
        let nodes = converted.model.nodes.iter();
        nodes.filter(|n| n.op.name() == kind).count()
    };
    assert_eq!(
        (named("Gemm"), named("Slice"), named("Concat")),
        (2 * 8 + 1, 0, 0),
        "{name}"
    );
    let file = |what: &str, shape: &[usize]| {
        read_input(
            &dir.join(format!("gpt2_tiny_{name}.{what}.npy")),
            shape,
            Pixels::Unit,
        )
        .unwrap()
    };
    let ids = file("input_ids", &[1, 16])[..len].to_vec();
    let want = file("logits", &[1, 16, 1000])[..len * 1000].to_vec();
    let compiled = Compiled::new(converted.model).unwrap();
    let native = compiled.run_native(&ids).unwrap().output();
    assert_near(&format!("{name}, {len} tokens"), &native, &want);
    assert_vm_equals_native(&compiled, &ids, &native);
}

/// `got` within 1e-4 of `want`'s largest magnitude, element by element.
fn assert_near(what: &str, got: &[f32], want: &[f32]) {
    let scale = want.iter().fold(0f32, |m, v| m.max(v.abs()));
    let error = got
        .iter()
        .zip(want)
        .fold(0f32, |m, (a, b)| m.max((a - b).abs()));
    eprintln!("{what}: max |native - torch| = {error:e} (values up to {scale})");
    assert!(error <= 1e-4 * scale, "{what}: off torch by {error}");
}

/// The VM's output on `x` is the native engine's, bit for bit.
fn assert_vm_equals_native(compiled: &Compiled, x: &[f32], native: &[f32]) {
    let vm = compiled.run_vm(x).unwrap().output;
    assert!(
        vm.iter()
            .map(|v| v.to_bits())
            .eq(native.iter().map(|v| v.to_bits())),
        "the VM and the native engine differ"
    );
}

/// The default export: scaled-dot-product attention, whose softmax output
/// goes through `Where(IsNaN(p), 0, p)`.
#[test]
fn gpt2_sdpa_export_matches_torch() {
    check_export("sdpa", 16);
}

/// The eager-attention export.
#[test]
fn gpt2_eager_export_matches_torch() {
    check_export("eager", 16);
}

/// The export with a dynamic sequence length, at the length given: its
/// positions come from `CumSum` over a cast mask and `Range(0, seq)`, which
/// fold to constants once `seq` has its size.
#[test]
fn gpt2_dynamic_export_matches_torch_at_each_length() {
    for len in [1, 7, 16] {
        check_export("dynamic", len);
    }
}

/// Converts `{name}.onnx` with the input shapes given, feeds each input
/// port from `{name}.{port}.npy`, and compares each output port with torch's
/// `{name}.{port}.npy`; the VM gives the native engine's bits. Returns the
/// output ports' names.
fn check_ports(name: &str, shapes: Vec<InputShape>) -> Vec<String> {
    let dir = dir();
    let model = dir.join(format!("{name}.onnx"));
    let converted = convert_file(&model, &Inputs::from(shapes), &mut |_, _| {})
        .unwrap_or_else(|e| panic!("{name}: {e}"));
    let file = |what: &str, shape: &[usize]| {
        read_input(&dir.join(format!("{name}.{what}.npy")), shape, Pixels::Unit).unwrap()
    };
    let ports = converted.model.input_ports();
    let x: Vec<f32> = ports.iter().flat_map(|p| file(&p.name, &p.shape)).collect();
    let outputs = converted.model.output_ports();
    let compiled = Compiled::new(converted.model).unwrap();
    let native = compiled.run_native(&x).unwrap().output();
    for (port, got) in outputs.iter().zip(split(&outputs, &native)) {
        let want = file(&port.name, &port.shape);
        assert_near(&format!("{name}, {}", port.name), got, &want);
    }
    assert_vm_equals_native(&compiled, &x, &native);
    outputs.iter().map(|p| p.name.clone()).collect()
}

/// An input of the given name and shape.
fn shape(name: &str, dims: &[usize]) -> InputShape {
    InputShape {
        name: Some(name.into()),
        dims: dims.to_vec(),
    }
}

/// One decoder step with a KV cache: five inputs (the new token's id and
/// each layer's past keys and values) packed into the model's one input,
/// five outputs (the logits and each layer's present keys and values)
/// into its one output, each named by the model's ports.
#[test]
fn gpt2_decoder_step_with_past_key_values_matches_torch() {
    let pasts = ["past_key_0", "past_value_0", "past_key_1", "past_value_1"];
    let mut shapes = vec![shape("input_ids", &[1, 1])];
    shapes.extend(pasts.iter().map(|p| shape(p, &[1, 4, 8, 32])));
    let outputs = check_ports("gpt2_tiny_past", shapes);
    assert_eq!(
        outputs,
        [
            "logits",
            "present_key_0",
            "present_value_0",
            "present_key_1",
            "present_value_1"
        ]
    );
}

/// A BERT encoder: three int64 inputs (ids, a padding mask whose last four
/// positions are padding, two token types), exact GELU, and two outputs
/// (the last hidden state and the pooler's tanh over the first position).
/// The mask reaches attention through `GatherND` with constant indices.
#[test]
fn bert_export_matches_torch() {
    let shapes: Vec<InputShape> = ["input_ids", "attention_mask", "token_type_ids"]
        .iter()
        .map(|n| shape(n, &[1, 16]))
        .collect();
    let outputs = check_ports("bert_tiny", shapes.clone());
    assert_eq!(outputs, ["last_hidden_state", "pooler_output"]);
    // Its exact GELU (`x · 0.5 · (1 + erf(x / sqrt 2))`) is one op a layer.
    let model = convert_file(
        &dir().join("bert_tiny.onnx"),
        &Inputs::from(shapes),
        &mut |_, _| {},
    )
    .unwrap()
    .model;
    let count = |op: UnaryOp| {
        let op = OpKind::Unary(Unary { op });
        model.nodes.iter().filter(|n| n.op == op).count()
    };
    assert_eq!((count(UnaryOp::GeluExact), count(UnaryOp::Erf)), (2, 0));
}

/// A Llama-style decoder: RMSNorm, rotary embeddings, a SwiGLU MLP and
/// grouped-query attention (four query heads over two key/value heads).
#[test]
fn llama_export_matches_torch() {
    let outputs = check_ports("llama_tiny", vec![shape("input_ids", &[1, 16])]);
    assert_eq!(outputs, ["logits"]);
}

/// The KV-cache decoder unrolled into a generation program of 8 greedy
/// (or `sampled`) tokens after the 8-token prompt (u16 ids).
fn generation(eos: Option<u32>, sampled: bool) -> Result<Compiled, ConvertError> {
    generation_of("gpt2_tiny_past.onnx", eos, sampled)
}

/// [`generation`] of the decoder in `file` (with a KV cache or without).
fn generation_of(file: &str, eos: Option<u32>, sampled: bool) -> Result<Compiled, ConvertError> {
    let bytes = std::fs::read(dir().join(file)).unwrap();
    let generate = Generate {
        prompt_len: 8,
        max_new_tokens: 8,
        eos,
        sampled,
        tokenizer: None,
    };
    let preprocess = Preprocess {
        encoding: Some(Encoding::U16),
        ..Preprocess::default()
    };
    let model = convert_generation(&bytes, None, "gen", &generate, &preprocess, &mut |_, _| {})?;
    Ok(Compiled::new(model).unwrap())
}

fn reference(name: &str, shape: &[usize]) -> Vec<f32> {
    read_input(&dir().join(name), shape, Pixels::Unit).unwrap()
}

/// The generation program's tokens are torch's greedy tokens, its logits at
/// each of the 8 passes are torch's, and the VM computes the native
/// engine's bits in every tensor of every pass (equal final memory).
#[test]
fn gpt2_generation_gives_torchs_greedy_tokens() {
    greedy_tokens_are_torchs(&generation(None, false).unwrap());
}

/// The fallback for a decoder exported without a cache (the dynamic-length
/// export): each pass recomputes the whole sequence, with the same tokens
/// and logits as torch's, the VM equal to the native engine.
#[test]
fn a_decoder_without_a_cache_generates_by_recomputing() {
    let compiled = generation_of("gpt2_tiny_dynamic.onnx", None, false).unwrap();
    let sequences = compiled
        .model
        .nodes
        .iter()
        .filter(|n| n.name.ends_with(".sequence"))
        .count();
    assert_eq!(sequences, 7, "each pass but the last extends the sequence");
    greedy_tokens_are_torchs(&compiled);
}

fn greedy_tokens_are_torchs(compiled: &Compiled) {
    let model = &compiled.model;
    let stored: usize = model
        .tensors
        .iter()
        .filter_map(|t| t.data.as_ref().map(|d| d.len()))
        .sum();
    assert!(stored <= 541_184, "{stored} values stored for 8 passes");
    // The language-model head runs on the last position of each pass only,
    // the prefill's included.
    let heads: Vec<&[usize]> = model
        .nodes
        .iter()
        .map(|n| model.tensors[n.output].shape.as_slice())
        .filter(|s| s.last() == Some(&1000) && s.len() == 2)
        .collect();
    assert_eq!(heads, vec![&[1, 1000][..]; 8], "one row of logits a pass");
    let prompt = reference("prompt_ids.npy", &[1, 8]);
    let want_tokens = reference("greedy.tokens.npy", &[1, 8]);
    let want_logits = reference("greedy.logits.npy", &[1, 8, 1000]);
    let last_rows: Vec<usize> = (0..8)
        .map(|k| {
            let name = format!("pass{k}.last");
            model.nodes.iter().position(|n| n.name == name).unwrap()
        })
        .collect();
    let mut logits = vec![Vec::new(); 8];
    let mut streamed = Vec::new();
    let tokens = &model.generation.as_ref().unwrap().tokens;
    let native = compiled
        .infer_observed(&prompt, |n, words| {
            if let Some(k) = last_rows.iter().position(|&r| r == n) {
                logits[k] = words.iter().map(|&w| f32::from_bits(w)).collect();
            }
            if tokens.contains(&model.nodes[n].output) {
                streamed.push(f32::from_bits(words[0]));
            }
        })
        .unwrap();
    assert_eq!(native, want_tokens);
    assert_eq!(streamed, want_tokens, "tokens streamed in order");
    assert_near("greedy logits", &logits.concat(), &want_logits);
    // The VM streams the same tokens, each as soon as its pass ends.
    let generation = model.generation.as_ref().unwrap();
    let mut vm_streamed = Vec::new();
    let mut vm = compiled
        .run_vm_observed(&prompt, &generation.token_nodes(model), |n, words| {
            vm_streamed.push((n, f32::from_bits(words[0])));
        })
        .unwrap();
    assert_eq!(vm.output, native);
    let at = |n: usize| compiled.program.boundaries[n + 1];
    assert!(vm_streamed.windows(2).all(|w| at(w[0].0) < at(w[1].0)));
    assert_eq!(
        vm_streamed.iter().map(|&(_, t)| t).collect::<Vec<_>>(),
        want_tokens
    );
    let run = compiled.run_native(&prompt).unwrap();
    assert_eq!(vm.machine.state(), run.final_state());
}

/// With an end-of-sequence id every token after its first is that id, and
/// bad requests are refused with errors that name them.
#[test]
fn generation_stops_at_eos_and_refuses_bad_requests() {
    let compiled = generation(Some(341), false).unwrap();
    let prompt = reference("prompt_ids.npy", &[1, 8]);
    assert_eq!(compiled.infer(&prompt).unwrap(), [341.0; 8]);
    let g = compiled.model.generation.as_ref().unwrap();
    assert_eq!((g.vocab, g.max_new_tokens()), (1000, 8));
    let err = |ids: &[f32]| {
        g.check_prompt(&compiled.model, ids)
            .unwrap_err()
            .to_string()
    };
    assert!(err(&prompt[..7]).contains("7 tokens; this package takes exactly 8"));
    let mut bad = prompt.clone();
    bad[3] = 1000.0;
    assert!(err(&bad).contains("prompt token 3 is 1000, not a token id from 0 to 999"));
    bad[3] = 2.5;
    assert!(err(&bad).contains("prompt token 3 is 2.5"));

    let refused = |dir_file: &str, prompt_len, max_new_tokens| {
        let bytes = std::fs::read(dir().join(dir_file)).unwrap();
        let generate = Generate {
            prompt_len,
            max_new_tokens,
            eos: None,
            sampled: false,
            tokenizer: None,
        };
        convert_generation(
            &bytes,
            None,
            "g",
            &generate,
            &Preprocess::default(),
            &mut |_, _| {},
        )
        .unwrap_err()
        .to_string()
    };
    assert!(refused("gpt2_tiny_past.onnx", 0, 4).contains("prompt length is 0"));
    assert!(refused("gpt2_tiny_past.onnx", 4, 0).contains("max_new_tokens is 0"));
    assert!(refused("bert_tiny.onnx", 4, 2).contains("3 integer inputs; it takes one"));
    // 128 positions: the prompt fills them, the first decoded token has none.
    let past_end = refused("gpt2_tiny_past.onnx", 128, 2);
    assert!(
        past_end
            .contains("generation pass 1 (sequence length 129; is it past the model's positions?)"),
        "{past_end}"
    );
}

/// Sampled generation: the same seed gives the same tokens on the VM and
/// the native engine (equal final memory: every pass's weights and draw),
/// other seeds other tokens, temperature 0 torch's greedy tokens; sampling
/// parameters out of range, or given to a greedy package, are refused.
#[test]
fn gpt2_sampled_generation_is_seeded_and_equal_on_both_engines() {
    use verdict_dnn::generation::Sampling;

    let compiled = generation(None, true).unwrap();
    let g = compiled.model.generation.clone().unwrap();
    let prompt = reference("prompt_ids.npy", &[1, 8]);
    let input = |sampling| g.input(&compiled.model, &prompt, Some(sampling)).unwrap();
    let seeded = |seed| Sampling {
        seed,
        top_k: 50,
        top_p: 0.9,
        ..Sampling::default()
    };
    let x = input(seeded(1));
    let native = compiled.infer(&x).unwrap();
    assert_eq!(
        compiled.infer(&x).unwrap(),
        native,
        "the same seed, the same tokens"
    );
    let mut vm = compiled.run_vm(&x).unwrap();
    assert_eq!(vm.output, native);
    assert_eq!(
        vm.machine.state(),
        compiled.run_native(&x).unwrap().final_state()
    );
    let others = (2..6)
        .map(|seed| compiled.infer(&input(seeded(seed))).unwrap())
        .filter(|t| *t != native)
        .count();
    assert_eq!(others, 4, "every other seed draws another sequence");
    let greedy = Sampling {
        temperature: 0.0,
        ..seeded(9)
    };
    let want = reference("greedy.tokens.npy", &[1, 8]);
    assert_eq!(compiled.infer(&input(greedy)).unwrap(), want);

    let refused = |s: Sampling| {
        g.input(&compiled.model, &prompt, Some(s))
            .unwrap_err()
            .to_string()
    };
    let hot = Sampling {
        temperature: 70.0,
        ..Sampling::default()
    };
    assert_eq!(refused(hot), "the temperature must be from 0 to 65.535");
    let wide = Sampling {
        top_p: 1.5,
        ..Sampling::default()
    };
    assert_eq!(refused(wide), "the top-p must be from 0 to 1");
    let greedy_package = generation(None, false).unwrap();
    let gg = greedy_package.model.generation.as_ref().unwrap();
    let err = gg.input(&greedy_package.model, &prompt, Some(Sampling::default()));
    assert!(err.unwrap_err().to_string().contains("generates greedily"));
}
