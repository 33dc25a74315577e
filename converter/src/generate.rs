//! Generation programs: a decoder exported with a KV cache (Hugging Face's
//! `past_key_values` export, one decoder step) unrolled into one verdict
//! model that prefills a prompt and decodes tokens greedily.
//!
//! The decoder graph has one integer input (the token ids), then the past
//! keys and values; its first output is the logits, the others the present
//! keys and values, paired with the past inputs in order. Pass 0 reads the
//! prompt with an empty cache; pass `k` reads token `k − 1` and pass
//! `k − 1`'s presents. Each pass is typed by tract at its own sizes and
//! lowered into the one model, whose weights are stored once
//! ([`crate::lower::Store`]). Token `k` is the ArgMax of pass `k`'s last
//! logits row (the first index among equal maxima, as torch's `argmax`).
//!
//! A decoder exported without a cache (token ids in, logits out, the
//! sequence length symbolic) is the fallback: pass `k` recomputes the whole
//! sequence, the prompt and the `k` tokens so far, which costs about
//! `max_new_tokens / 2` times a cached generation's compute.

use std::collections::HashMap;
use std::path::Path;

use tract_onnx::pb::tensor_proto::DataType;
use tract_onnx::pb::tensor_shape_proto::dimension;
use tract_onnx::pb::type_proto::Value;
use tract_onnx::pb::{ModelProto, TensorProto, ValueInfoProto};
use verdict_dnn::generation::Generation;
use verdict_dnn::ir::{Model, Port, Ports, TensorId, ValueKind};
use verdict_dnn::ops::OpKind;
use verdict_dnn::ops::argmax::ArgMax;
use verdict_dnn::ops::binary::{Binary, BinaryOp};
use verdict_dnn::ops::concat::Concat;
use verdict_dnn::ops::reshape::Reshape;
use verdict_dnn::ops::sample::{PARAMS, Sample};
use verdict_dnn::ops::select::Where;
use verdict_dnn::ops::slice::{Range, Slice};

use crate::error::ConvertError;
use crate::load::{self, Constant, InputShape, Preprocess};
use crate::lower::{Progress, Store, finishing, prepare_input, walk};
use crate::text::Text;

/// What to generate.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Generate {
    /// Tokens in the prompt (every claim of the package gives this many).
    pub prompt_len: usize,
    /// Tokens generated.
    pub max_new_tokens: usize,
    /// Every token after this id is this id too.
    pub eos: Option<u32>,
    /// Draw each token with a seed, temperature, top-k and top-p given
    /// after the prompt (`Sample`), instead of taking the ArgMax.
    pub sampled: bool,
    /// A `tokenizer.json` for the package to carry: checked to parse and to
    /// give no id past the model's vocabulary.
    pub tokenizer: Option<String>,
}

/// The decoder's inputs and outputs, by role.
struct Roles {
    /// The token ids input.
    ids: String,
    /// Each past input, with its declared dimensions (`None`: symbolic)
    /// and which of them is the cache's length.
    pasts: Vec<(String, Vec<Option<usize>>, usize)>,
}

/// Converts a decoder, with a KV cache or without one, into a generation
/// program: its input is the prompt's `prompt_len` token ids (as
/// `preprocess.encoding` packs them), its output the `max_new_tokens` new
/// ids. `progress` counts passes.
///
/// # Errors
///
/// [`ConvertError::Generation`] for a graph without the decoder's inputs
/// and outputs or an empty prompt or generation, [`ConvertError::Pass`]
/// for a pass that does not convert (a sequence longer than the model's
/// positions fails so), or the errors of [`crate::convert_bytes`].
pub fn convert_generation(
    bytes: &[u8],
    dir: Option<&Path>,
    name: &str,
    generate: &Generate,
    preprocess: &Preprocess,
    progress: Progress<'_>,
) -> Result<Model, ConvertError> {
    let fail = |m: &str| Err(ConvertError::Generation(m.into()));
    if generate.prompt_len == 0 {
        return fail("the prompt length is 0; a prompt has at least one token");
    }
    if generate.max_new_tokens == 0 {
        return fail("max_new_tokens is 0; a generation makes at least one token");
    }
    if preprocess.divide.is_some() || !preprocess.mean.is_empty() || !preprocess.std.is_empty() {
        return fail("token ids take no divide, mean or std");
    }
    let proto = load::decode(bytes)?;
    let roles = roles(&proto)?;
    let p = generate.prompt_len;
    let (mut store, ids, params) = if generate.sampled {
        // The prompt, then the sampling parameters, in one flat input.
        let mut store = Store::new(name, &[p + PARAMS]);
        let all = prepare_input(&mut store, preprocess)?;
        let part = |store: &mut Store, name: &str, start, len| {
            let range = Range {
                start,
                step: 1,
                len,
            };
            let op = OpKind::Slice(Slice {
                ranges: vec![range],
            });
            store.add(name, op, &[all]).map_err(finishing)
        };
        let ids = part(&mut store, "prompt", 0, p)?;
        let ids = store
            .reshape("prompt.shape", ids, &[1, p])
            .map_err(finishing)?;
        let params = part(&mut store, "sampling", p, PARAMS)?;
        (store, ids, Some(params))
    } else {
        let mut store = Store::new(name, &[1, p]);
        let ids = prepare_input(&mut store, preprocess)?;
        (store, ids, None)
    };
    let mut feed: HashMap<String, TensorId> = HashMap::from([(roles.ids.clone(), ids)]);
    let mut tokens = Vec::new();
    let mut done = None;
    let mut vocab = 0;
    for pass in 0..generate.max_new_tokens {
        progress(pass, generate.max_new_tokens);
        let len = generate.prompt_len + pass;
        let in_pass = |e: ConvertError| ConvertError::Pass {
            pass,
            len,
            source: Box::new(e),
        };
        // Without a cache each pass reads the whole sequence so far.
        let recompute = roles.pasts.is_empty();
        let seq = if pass == 0 || recompute { len } else { 1 };
        let outs =
            crate::guarded(|| lower_pass(&mut store, &proto, dir, &roles, &feed, seq, len - seq))
                .map_err(in_pass)?;
        let logits = outs[0];
        let shape = store.shape(logits);
        let [1, rows, v] = shape[..] else {
            return Err(in_pass(ConvertError::Generation(format!(
                "the first output (logits) has shape {shape:?}, not [1, sequence, vocabulary]"
            ))));
        };
        vocab = v;
        let (token, now_done) = next_token(
            &mut store,
            logits,
            (rows, v),
            pass,
            params,
            done,
            generate.eos,
        )
        .map_err(finishing)?;
        done = now_done;
        tokens.push(token);
        let last = pass + 1 == generate.max_new_tokens;
        let next = if recompute && !last {
            let ids = feed[&roles.ids];
            let concat = OpKind::Concat(Concat { axis: 1 });
            let sequence = store.add(&format!("pass{pass}.sequence"), concat, &[ids, token]);
            sequence.map_err(finishing)?
        } else {
            token
        };
        feed = HashMap::from([(roles.ids.clone(), next)]);
        for ((past, ..), &present) in roles.pasts.iter().zip(&outs[1..]) {
            feed.insert(past.clone(), present);
        }
    }
    progress(generate.max_new_tokens, generate.max_new_tokens);
    let out = match tokens[..] {
        [one] => one,
        _ => store
            .add("tokens", OpKind::Concat(Concat { axis: 1 }), &tokens)
            .map_err(finishing)?,
    };
    let port = |name: &str, len| Port {
        name: name.into(),
        shape: vec![1, len],
        kind: ValueKind::Integer,
    };
    let mut inputs = vec![port(&roles.ids, generate.prompt_len)];
    if generate.sampled {
        inputs.push(port("sampling", PARAMS));
    }
    let builder = store.builder();
    builder.ports(Ports {
        inputs,
        outputs: vec![port("tokens", generate.max_new_tokens)],
    });
    if let Some(json) = &generate.tokenizer {
        let size = Text::from_json(json)
            .map_err(|e| ConvertError::Generation(e.to_string()))?
            .vocab_size();
        if size > vocab {
            return Err(ConvertError::Generation(format!(
                "the tokenizer has {size} tokens, past the model's vocabulary of {vocab}"
            )));
        }
    }
    builder.generation(Generation {
        vocab,
        eos: generate.eos,
        tokens,
        sampled: generate.sampled,
        tokenizer: generate.tokenizer.clone(),
    });
    store.finish(out)
}

/// Lowers one pass of the decoder, reading `feed` (by input name), with
/// `seq` new tokens over a cache of `past`; gives its outputs' tensors.
fn lower_pass(
    store: &mut Store,
    proto: &ModelProto,
    dir: Option<&Path>,
    roles: &Roles,
    feed: &HashMap<String, TensorId>,
    seq: usize,
    past: usize,
) -> Result<Vec<TensorId>, ConvertError> {
    let dims = |declared: &[Option<usize>], axis: usize| -> Vec<usize> {
        let mut d: Vec<usize> = declared.iter().map(|d| d.unwrap_or(1)).collect();
        d[axis] = past;
        d
    };
    let ids = InputShape {
        name: Some(roles.ids.clone()),
        dims: vec![1, seq],
    };
    let (constants, shapes) = if past == 0 {
        // An empty cache: bound as constants of length 0, which tract folds
        // away (a dimension 0 cannot be an input's).
        let constants = roles
            .pasts
            .iter()
            .map(|(name, declared, axis)| Constant {
                name: name.clone(),
                tensor: TensorProto {
                    dims: dims(declared, *axis).iter().map(|&d| d as i64).collect(),
                    data_type: DataType::Float as i32,
                    ..TensorProto::default()
                },
            })
            .collect();
        (constants, vec![ids])
    } else {
        let pasts = roles.pasts.iter().map(|(name, declared, axis)| InputShape {
            name: Some(name.clone()),
            dims: dims(declared, *axis),
        });
        (Vec::new(), [ids].into_iter().chain(pasts).collect())
    };
    let inference = load::parse_model(proto.clone(), dir, &constants, None)?;
    let typed = load::typed_model(inference, &shapes)?;
    let inputs = typed
        .input_outlets()
        .map_err(|e| ConvertError::tract("listing inputs", e))?
        .iter()
        .map(|o| {
            let name = &typed.node(o.node).name;
            feed.get(name).copied().ok_or_else(|| {
                ConvertError::Generation(format!("the decoder input `{name}` has no role"))
            })
        })
        .collect::<Result<Vec<_>, _>>()?;
    walk(store, &typed, &inputs, &mut |_, _| ())
}

/// The token of a pass whose logits are `[1, rows, vocab]`: the ArgMax of
/// the last row, or its `Sample` with `params`, or `eos` once an earlier
/// token was (`done`, a boolean). Gives the token (`[1, 1]`) and whether
/// `eos` has been generated.
fn next_token(
    store: &mut Store,
    logits: TensorId,
    (rows, vocab): (usize, usize),
    pass: usize,
    params: Option<TensorId>,
    done: Option<TensorId>,
    eos: Option<u32>,
) -> Result<(TensorId, Option<TensorId>), crate::lower::LowerError> {
    let whole = |len| Range {
        start: 0,
        step: 1,
        len,
    };
    let last = match last_row(store, logits, pass)? {
        Some(last) => last,
        None => store.add(
            &format!("pass{pass}.last"),
            OpKind::Slice(Slice {
                ranges: vec![
                    whole(1),
                    Range {
                        start: rows - 1,
                        step: 1,
                        len: 1,
                    },
                    whole(vocab),
                ],
            }),
            &[logits],
        )?,
    };
    let name = format!("token{pass}");
    let best = match params {
        Some(params) => {
            let step = u32::try_from(pass).expect("passes are few");
            store.add(&name, OpKind::Sample(Sample { step }), &[last, params])?
        }
        None => {
            let argmax = ArgMax {
                axis: 2,
                keepdims: false,
                min: false,
                last: false,
            };
            store.add(&name, OpKind::ArgMax(argmax), &[last])?
        }
    };
    let Some(eos) = eos else {
        return Ok((best, None));
    };
    let id = store.weight("eos", &[1, 1], vec![eos as f32])?;
    let binary = |op| OpKind::Binary(Binary { op });
    let is_eos = store.add(
        &format!("token{pass}.is_eos"),
        binary(BinaryOp::Equal),
        &[best, id],
    )?;
    let Some(done) = done else {
        return Ok((best, Some(is_eos)));
    };
    let token = store.add(
        &format!("token{pass}.after_eos"),
        OpKind::Where(Where),
        &[done, id, best],
    )?;
    let done = store.add(
        &format!("pass{pass}.done"),
        binary(BinaryOp::Or),
        &[done, is_eos],
    )?;
    Ok((token, Some(done)))
}

/// The last row of `logits` (`[1, rows, vocab]`) computed from the last
/// row of the hidden state, where the logits are a chain of row-wise ops
/// over it that nothing else reads: the language-model head then runs on
/// one position of a prefill instead of all of them. Reshapes keeping the
/// last axis, normalizations over the last axis, elementwise unary ops and
/// Gemms whose `A` is the row (with no per-row `C`) are row-wise; the chain
/// is rebuilt on the row and the old one left to [`Store::finish`]'s
/// pruning. `None` where no such op precedes the logits.
fn last_row(
    store: &mut Store,
    logits: TensorId,
    pass: usize,
) -> Result<Option<TensorId>, crate::lower::LowerError> {
    let mut chain = Vec::new();
    let mut t = logits;
    loop {
        let b = store.builder();
        let Some(node) = b.producer(t) else { break };
        let x = node.inputs[0];
        let (rank, last) = (b.shape(x).len(), b.shape(x).last().copied());
        let rowwise = match &node.op {
            OpKind::Reshape(r) => r.shape.last().copied() == last,
            OpKind::Norm(n) => n.axes == (rank - 1..rank),
            OpKind::Unary(_) => true,
            OpKind::Gemm(g) => {
                let n = b.shape(t).last().copied().unwrap_or(0);
                let c = node.inputs.get(2).map(|&c| b.shape(c).iter().product());
                !g.trans_a && rank == 2 && c.is_none_or(|c: usize| c == n)
            }
            _ => false,
        };
        let only = t == logits || b.readers(t) == 1;
        if !rowwise || !only || rank == 0 || b.data(x).is_some() {
            break;
        }
        chain.push(node.clone());
        t = x;
    }
    if !chain.iter().any(|n| matches!(n.op, OpKind::Gemm(_))) {
        return Ok(None);
    }
    // The last row of `t`: the last index of every leading axis.
    let shape = store.shape(t);
    let ranges = shape
        .iter()
        .enumerate()
        .map(|(axis, &d)| match axis + 1 == shape.len() {
            true => Range {
                start: 0,
                step: 1,
                len: d,
            },
            false => Range {
                start: d - 1,
                step: 1,
                len: 1,
            },
        })
        .collect();
    let name = |n: &str| format!("pass{pass}.last.{n}");
    let mut row = store.add(&name("row"), OpKind::Slice(Slice { ranges }), &[t])?;
    // The logits' own reshape, if they have one, is the last one below.
    let inner = match chain[0].op {
        OpKind::Reshape(_) => &chain[1..],
        _ => &chain[..],
    };
    for node in inner.iter().rev() {
        row = match &node.op {
            OpKind::Reshape(r) => {
                let mut shape = vec![1; r.shape.len()];
                shape[r.shape.len() - 1] = r.shape[r.shape.len() - 1];
                store.reshape(&name(&node.name), row, &shape)?
            }
            op => {
                let inputs: Vec<TensorId> = [row]
                    .into_iter()
                    .chain(node.inputs[1..].iter().copied())
                    .collect();
                store.add(&name(&node.name), op.clone(), &inputs)?
            }
        };
    }
    let shape = vec![1, 1, store.shape(logits)[2]];
    let last = OpKind::Reshape(Reshape { shape });
    Ok(Some(store.add(
        &format!("pass{pass}.last"),
        last,
        &[row],
    )?))
}

/// Finds the decoder's roles in its graph (see the module docs).
fn roles(proto: &ModelProto) -> Result<Roles, ConvertError> {
    let fail = |m: String| ConvertError::Generation(m);
    let graph = proto
        .graph
        .as_ref()
        .ok_or_else(|| fail("the model has no graph".into()))?;
    let initialized: Vec<&str> = graph.initializer.iter().map(|t| t.name.as_str()).collect();
    let inputs = graph
        .input
        .iter()
        .filter(|i| !initialized.contains(&i.name.as_str()));
    let integer = |i: &&ValueInfoProto| {
        tensor_type(i)
            .is_some_and(|(t, _)| t == DataType::Int64 as i32 || t == DataType::Int32 as i32)
    };
    let (ids, pasts): (Vec<&ValueInfoProto>, Vec<&ValueInfoProto>) = inputs.partition(integer);
    let [ids] = ids[..] else {
        return Err(fail(format!(
            "the decoder has {} integer inputs; it takes one, the token ids",
            ids.len()
        )));
    };
    // Without a cache, the logits alone are read (recomputing each pass).
    if !pasts.is_empty() && graph.output.len() != pasts.len() + 1 {
        return Err(fail(format!(
            "the decoder has {} past inputs and {} outputs: it gives the logits, then one \
             present per past",
            pasts.len(),
            graph.output.len()
        )));
    }
    let pasts = pasts
        .into_iter()
        .map(|p| {
            let (_, dims) = tensor_type(p).unwrap_or_default();
            let symbolic: Vec<usize> = (0..dims.len()).filter(|&a| dims[a].is_none()).collect();
            // The cache's length is its one symbolic axis past the batch.
            match symbolic[..] {
                [axis] | [0, axis] => Ok((p.name.clone(), dims, axis)),
                _ => Err(fail(format!(
                    "past input `{}` has shape {dims:?}: it needs one symbolic length axis",
                    p.name
                ))),
            }
        })
        .collect::<Result<_, _>>()?;
    Ok(Roles {
        ids: ids.name.clone(),
        pasts,
    })
}

/// An input's element type and declared dimensions (`None`: symbolic).
fn tensor_type(input: &ValueInfoProto) -> Option<(i32, Vec<Option<usize>>)> {
    let Some(Value::TensorType(t)) = input.r#type.as_ref().and_then(|t| t.value.as_ref()) else {
        return None;
    };
    let dims = t.shape.as_ref().map_or_else(Vec::new, |s| {
        s.dim
            .iter()
            .map(|d| match d.value {
                Some(dimension::Value::DimValue(n)) => usize::try_from(n).ok(),
                _ => None,
            })
            .collect()
    });
    Some((t.elem_type, dims))
}
