//! Command-line arguments that `dnnc` and `verdict` share.

use verdict_dnn::generation::Sampling;

/// A sampled generation's parameters (`dnnc convert --generate --sample`).
#[derive(Clone, Debug, Default, clap::Args)]
pub struct SamplingArgs {
    /// The generator's seed [default: 0].
    #[arg(long)]
    pub seed: Option<u32>,
    /// Logits are divided by it; 0 is greedy [default: 1].
    #[arg(long)]
    pub temperature: Option<f32>,
    /// Keep only the K most likely tokens (0: all) [default: 0].
    #[arg(long = "top-k", value_name = "K")]
    pub top_k: Option<u32>,
    /// Then the fewest most likely tokens holding this share of the
    /// probability [default: 1].
    #[arg(long = "top-p", value_name = "P")]
    pub top_p: Option<f32>,
}

impl SamplingArgs {
    /// The parameters, if any was given (the others at their defaults).
    pub fn sampling(&self) -> Option<Sampling> {
        let given = self.seed.is_some()
            || self.temperature.is_some()
            || self.top_k.is_some()
            || self.top_p.is_some();
        let d = Sampling::default();
        given.then(|| Sampling {
            seed: self.seed.unwrap_or(d.seed),
            temperature: self.temperature.unwrap_or(d.temperature),
            top_k: self.top_k.unwrap_or(d.top_k),
            top_p: self.top_p.unwrap_or(d.top_p),
        })
    }
}
