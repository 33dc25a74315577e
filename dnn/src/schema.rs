//! What a model's input and output mean to the people and programs that use
//! it: per named part, a description, the values an input takes, an
//! output's class labels, how an image becomes an input. It describes the
//! program and changes nothing it computes; the package's hash, which the
//! registry records, commits it with the weights.
//!
//! Every field is written, absent or not: the package's encoding (bincode)
//! is not self-describing, so a field cannot be skipped.

use serde::{Deserialize, Serialize};

use crate::ir::{Model, Port, split};

/// Classes a runner names, per labelled output part: `dnnc run`, `verdict
/// claim submit` and the gateway show the top five.
pub const TOP_CLASSES: usize = 5;

/// The schema of a model's parts ([`Model::input_ports`],
/// [`Model::output_ports`]); a part it does not name has none.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Schema {
    /// Input parts, by name.
    #[serde(default)]
    pub inputs: Vec<PartSchema>,
    /// Output parts, by name.
    #[serde(default)]
    pub outputs: Vec<PartSchema>,
}

/// One part of the input or the output.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PartSchema {
    /// The part's name (its port's).
    pub name: String,
    /// What it holds, for people.
    #[serde(default)]
    pub description: Option<String>,
    /// The values an input takes, `[min, max]`: an input with a value
    /// outside is refused before anything runs or is posted.
    #[serde(default)]
    pub range: Option<[f32; 2]>,
    /// One label per index of the part's last axis: an output's classes.
    #[serde(default)]
    pub labels: Vec<String>,
    /// How an image becomes this input.
    #[serde(default)]
    pub image: Option<Image>,
}

/// How an image's pixels become an input's values.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Image {
    /// Rows.
    pub height: usize,
    /// Columns.
    pub width: usize,
    /// The channels in order: `RGB`, `BGR`, `L` (grey)…
    pub channels: String,
    /// `NCHW` or `NHWC`.
    pub layout: String,
    /// Each value is `(pixel / scale - mean[c]) / std[c]` (none: the
    /// pixel as it is; one value: every channel).
    #[serde(default)]
    pub scale: Option<f32>,
    /// Per channel, or one for all.
    #[serde(default)]
    pub mean: Vec<f32>,
    /// Per channel, or one for all.
    #[serde(default)]
    pub std: Vec<f32>,
}

/// A class an output names: its label and value.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Class {
    /// The output part.
    pub part: String,
    /// The index along its last axis.
    pub index: usize,
    /// Its label.
    pub label: String,
    /// The output's value there.
    pub value: f32,
}

/// A schema that does not fit its model, or an input it refuses.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
pub enum SchemaError {
    /// A part the model does not have, or named twice.
    #[error("schema part `{name}`: {message}")]
    Part {
        /// The part.
        name: String,
        /// What is wrong.
        message: String,
    },
    /// An input value outside its part's range.
    #[error("input `{part}` value {index} is {value}, outside its range [{min}, {max}]")]
    OutOfRange {
        /// The part.
        part: String,
        /// The value's index in the part.
        index: usize,
        /// The value.
        value: f32,
        /// The range's ends.
        min: f32,
        /// Its top.
        max: f32,
    },
}

impl Schema {
    /// Checks the schema against `model`'s parts: every part named exists
    /// once, a range is ordered and finite, labels match the last axis, an
    /// image's sizes and channels match the part's shape.
    ///
    /// # Errors
    ///
    /// [`SchemaError::Part`] naming the part and the problem.
    pub fn check(&self, model: &Model) -> Result<(), SchemaError> {
        for (parts, ports) in [
            (&self.inputs, model.input_ports()),
            (&self.outputs, model.output_ports()),
        ] {
            for (i, part) in parts.iter().enumerate() {
                let bad = |message: String| SchemaError::Part {
                    name: part.name.clone(),
                    message,
                };
                let Some(port) = ports.iter().find(|p| p.name == part.name) else {
                    let names: Vec<&str> = ports.iter().map(|p| p.name.as_str()).collect();
                    return Err(bad(format!("the model has no such part; it has {names:?}")));
                };
                if parts[..i].iter().any(|p| p.name == part.name) {
                    return Err(bad("named twice".into()));
                }
                part.check(port).map_err(bad)?;
            }
        }
        Ok(())
    }

    /// Refuses an `input` of `model` with a value outside its part's range.
    ///
    /// # Errors
    ///
    /// [`SchemaError::OutOfRange`] naming the first such value.
    pub fn check_input(&self, model: &Model, input: &[f32]) -> Result<(), SchemaError> {
        let ports = model.input_ports();
        for (port, values) in ports.iter().zip(split(&ports, input)) {
            let Some([min, max]) = self.part(&self.inputs, port).and_then(|p| p.range) else {
                continue;
            };
            if let Some(index) = values.iter().position(|v| !(min..=max).contains(v)) {
                return Err(SchemaError::OutOfRange {
                    part: port.name.clone(),
                    index,
                    value: values[index],
                    min,
                    max,
                });
            }
        }
        Ok(())
    }

    /// The `k` largest values of each labelled part of `output` (of
    /// `model`), largest first (the first index among equals), with their
    /// labels. A part with several rows is read whole, its index modulo
    /// the labels.
    pub fn top_classes(&self, model: &Model, output: &[f32], k: usize) -> Vec<Class> {
        let ports = model.output_ports();
        let mut classes = Vec::new();
        for (port, values) in ports.iter().zip(split(&ports, output)) {
            let Some(part) = self
                .part(&self.outputs, port)
                .filter(|p| !p.labels.is_empty())
            else {
                continue;
            };
            let mut order: Vec<usize> = (0..values.len()).collect();
            order.sort_by(|&a, &b| values[b].total_cmp(&values[a]).then(a.cmp(&b)));
            classes.extend(order.into_iter().take(k).map(|i| Class {
                part: port.name.clone(),
                index: i % part.labels.len(),
                label: part.labels[i % part.labels.len()].clone(),
                value: values[i],
            }));
        }
        classes
    }

    fn part<'a>(&self, parts: &'a [PartSchema], port: &Port) -> Option<&'a PartSchema> {
        parts.iter().find(|p| p.name == port.name)
    }
}

impl PartSchema {
    /// What is wrong with it for `port`, if anything.
    fn check(&self, port: &Port) -> Result<(), String> {
        if let Some([min, max]) = self.range
            && !(min.is_finite() && max.is_finite() && min <= max)
        {
            return Err(format!(
                "range [{min}, {max}] is not two finite values, the first the least"
            ));
        }
        let last = port.shape.last().copied().unwrap_or(1);
        if !self.labels.is_empty() && self.labels.len() != last {
            return Err(format!(
                "{} labels for a last axis of {last} (shape {:?})",
                self.labels.len(),
                port.shape
            ));
        }
        let Some(image) = &self.image else {
            return Ok(());
        };
        let channels = image.channels.chars().count();
        let want = match image.layout.as_str() {
            "NCHW" => [channels, image.height, image.width],
            "NHWC" => [image.height, image.width, channels],
            other => return Err(format!("image layout `{other}`: NCHW or NHWC")),
        };
        if port.shape.len() < 3 || port.shape[port.shape.len() - 3..] != want {
            return Err(format!(
                "an {} image of {}×{} {} is {want:?}, not the shape {:?}",
                image.layout, image.height, image.width, image.channels, port.shape
            ));
        }
        for (what, v) in [("mean", &image.mean), ("std", &image.std)] {
            if !v.is_empty() && v.len() != 1 && v.len() != channels {
                return Err(format!(
                    "image {what} has {} values for {channels} channels",
                    v.len()
                ));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ir::{Ports, ValueKind};

    fn port(name: &str, shape: &[usize]) -> Port {
        Port {
            name: name.into(),
            shape: shape.to_vec(),
            kind: ValueKind::Float,
        }
    }

    fn model() -> Model {
        let mut b = crate::ir::ModelBuilder::new("m", &[1, 3, 2, 2]);
        b.ports(Ports {
            inputs: vec![port("image", &[1, 3, 2, 2])],
            outputs: vec![port("scores", &[1, 3])],
        });
        let x = b.input();
        b.finish(x)
    }

    fn part(name: &str) -> PartSchema {
        PartSchema {
            name: name.into(),
            ..PartSchema::default()
        }
    }

    #[test]
    fn a_schema_must_fit_its_model() {
        let m = model();
        let good = Schema {
            inputs: vec![PartSchema {
                range: Some([0.0, 1.0]),
                image: Some(Image {
                    height: 2,
                    width: 2,
                    channels: "RGB".into(),
                    layout: "NCHW".into(),
                    mean: vec![0.5],
                    ..Image::default()
                }),
                ..part("image")
            }],
            outputs: vec![PartSchema {
                labels: vec!["a".into(), "b".into(), "c".into()],
                ..part("scores")
            }],
        };
        assert_eq!(good.check(&m), Ok(()));
        let refused = |schema: Schema, says: &str| {
            let e = schema.check(&m).unwrap_err().to_string();
            assert!(e.contains(says), "{e}");
        };
        let mut s = good.clone();
        s.outputs[0].labels.pop();
        refused(s, "2 labels for a last axis of 3");
        let mut s = good.clone();
        s.inputs[0].range = Some([1.0, 0.0]);
        refused(s, "the first the least");
        let mut s = good.clone();
        s.inputs[0].image.as_mut().unwrap().layout = "NHWC".into();
        refused(s, "not the shape [1, 3, 2, 2]");
        let mut s = good.clone();
        s.inputs.push(part("image"));
        refused(s, "named twice");
        refused(
            Schema {
                outputs: vec![part("logits")],
                ..Schema::default()
            },
            "no such part; it has [\"scores\"]",
        );
    }

    #[test]
    fn inputs_are_checked_and_outputs_named() {
        let m = model();
        let schema = Schema {
            inputs: vec![PartSchema {
                range: Some([0.0, 1.0]),
                ..part("image")
            }],
            outputs: vec![PartSchema {
                labels: vec!["a".into(), "b".into(), "c".into()],
                ..part("scores")
            }],
        };
        let mut x = vec![0.5; 12];
        assert_eq!(schema.check_input(&m, &x), Ok(()));
        x[7] = 1.5;
        let e = schema.check_input(&m, &x).unwrap_err();
        assert_eq!(
            e.to_string(),
            "input `image` value 7 is 1.5, outside its range [0, 1]"
        );
        x[7] = f32::NAN;
        assert!(schema.check_input(&m, &x).is_err(), "NaN is in no range");
        let top = schema.top_classes(&m, &[0.1, 0.7, 0.7], 2);
        let labels: Vec<(&str, usize)> = top.iter().map(|c| (c.label.as_str(), c.index)).collect();
        assert_eq!(labels, [("b", 1), ("c", 2)]);
    }

    proptest::proptest! {
        /// Any schema, checked or not, judges any input and names any
        /// output's classes without a panic (a package's schema is data).
        #[test]
        fn any_schema_judges_any_values(
            name in proptest::sample::select(vec!["image", "scores", "other"]),
            range in proptest::array::uniform2(proptest::num::f32::ANY),
            labels in 0usize..6,
            layout in proptest::sample::select(vec!["NCHW", "NHWC", "HW"]),
            (height, width) in (0usize..4, 0usize..4),
            channels in "[RGBL]{0,4}",
            mean in proptest::collection::vec(proptest::num::f32::ANY, 0..4),
            input in proptest::collection::vec(proptest::num::f32::ANY, 0..20),
            output in proptest::collection::vec(proptest::num::f32::ANY, 0..6),
            k in 0usize..8,
        ) {
            let m = model();
            let schema = Schema {
                inputs: vec![PartSchema {
                    range: Some(range),
                    image: Some(Image {
                        height,
                        width,
                        channels,
                        layout: layout.into(),
                        mean,
                        ..Image::default()
                    }),
                    ..part(name)
                }],
                outputs: vec![PartSchema {
                    labels: (0..labels).map(|i| i.to_string()).collect(),
                    ..part("scores")
                }],
            };
            let _ = schema.check(&m);
            let _ = schema.check_input(&m, &input);
            let classes = schema.top_classes(&m, &output, k);
            proptest::prop_assert!(classes.len() <= k);
        }
    }
}
