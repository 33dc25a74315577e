//! `verdict`: deploy the contracts, register models, post and defend claims,
//! watch for wrong claims and refute them, request inferences and serve
//! them for their fees, and run the whole story on an embedded devnet
//! (`verdict demo`).
//!
//! Settings come from flags, then `VERDICT_*` environment variables, then a
//! JSON config file (`--config`), then defaults. Keys never come from the
//! command line: `VERDICT_PRIVATE_KEY`, or a keystore file (`--keystore`)
//! with its password in `VERDICT_KEYSTORE_PASSWORD`.

use std::io::IsTerminal;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use alloy::signers::local::PrivateKeySigner;
use alloy_primitives::{Address, U256};
use alloy_sol_types::{SolCall, SolEvent};
use anyhow::{Context, bail};
use clap::{Args, CommandFactory, Parser, Subcommand};
use serde::Deserialize;
use tokio::sync::{mpsc, watch};
use verdict_challenger::agent::{
    Activity, Agent, AgentConfig, LIVE_CONFIRMATIONS, LOG_RANGE, Serve,
};
use verdict_challenger::chain::Chain;
use verdict_challenger::demo::{self, DemoConfig, FraudAt, fmt_eth};
use verdict_challenger::deployment::Deployment;
use verdict_challenger::gateway::{self, GatewayConfig};
use verdict_challenger::metrics;
use verdict_challenger::model::ModelInfo;
use verdict_challenger::records;
use verdict_challenger::store::{AgentState, ClaimStatus};
use verdict_challenger::strategy::Falsify;
use verdict_contracts::bindings::ClaimManager;
use verdict_contracts::protocol::Config;
use verdict_converter::InputShape;
use verdict_converter::args::{PromptArgs, SamplingArgs};
use verdict_converter::inspect::GenerationSummary;
use verdict_converter::tensor_io::Pixels;
use verdict_converter::text::{Text, TextStream};
use verdict_devnet::{self as devnet, Devnet, DevnetConfig};

mod keys;

/// `println!` that ignores a closed stdout: `verdict ... | head` ends the
/// output, never the command (a panic would exit 101 and, in an agent,
/// stop the work the exit status reports on).
macro_rules! out {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let _ = writeln!(std::io::stdout().lock(), $($arg)*);
    }};
}

/// `eprintln!` that ignores a closed stderr, as [`out!`] does stdout.
macro_rules! note {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let _ = writeln!(std::io::stderr().lock(), $($arg)*);
    }};
}

/// Exit status after SIGINT (128 + 2), as shells report it.
const EXIT_SIGINT: u8 = 130;
/// Exit status after SIGTERM (128 + 15).
const EXIT_SIGTERM: u8 = 143;

#[derive(Parser)]
#[command(
    name = "verdict",
    version,
    about = "Optimistic verification of ML inference on an EVM chain"
)]
struct Cli {
    #[command(flatten)]
    global: Global,
    #[command(subcommand)]
    command: Command,
}

#[derive(Args, Clone)]
struct Global {
    /// JSON-RPC URL of the chain [default: http://127.0.0.1:8545].
    #[arg(long, global = true, env = "VERDICT_RPC_URL")]
    rpc_url: Option<String>,
    /// The deployment file [default: deployment.json].
    #[arg(long, global = true, env = "VERDICT_DEPLOYMENT")]
    deployment: Option<PathBuf>,
    /// An encrypted JSON keystore holding the account's key (password in
    /// VERDICT_KEYSTORE_PASSWORD); else VERDICT_PRIVATE_KEY is used.
    #[arg(long, global = true, env = "VERDICT_KEYSTORE")]
    keystore: Option<PathBuf>,
    /// Where agents keep their records [default: .verdict].
    #[arg(long, global = true, env = "VERDICT_DATA_DIR")]
    data_dir: Option<PathBuf>,
    /// A JSON file with any of: rpc_url, deployment, keystore, data_dir.
    #[arg(long, global = true, env = "VERDICT_CONFIG")]
    config: Option<PathBuf>,
    /// Machine-readable output on stdout.
    #[arg(long, global = true)]
    json: bool,
    /// More logging from verdict's own crates (-v info, -vv debug, -vvv
    /// trace); RUST_LOG overrides. Colours only when stderr is a terminal.
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    verbose: u8,
}

#[derive(Args)]
struct DemoArgs {
    /// The folder with digits_mlp.onnx and samples.json, the model and
    /// inputs without --model.
    #[arg(long, default_value = "models")]
    models: PathBuf,
    /// Run on the chain at --rpc-url instead of an embedded devnet (dev
    /// keys of the test mnemonic, as anvil's).
    #[arg(long)]
    external: bool,
    /// Play the story on this model: a `.dnn` package, or an ONNX model
    /// converted in process (as `dnnc convert` does).
    #[arg(long, value_name = "FILE")]
    model: Option<PathBuf>,
    /// The input of both claims on --model (`.npy`, `.json`, `.png` or
    /// `.pb`, as `claim submit --input`): mallory's wrong claim is about the
    /// same question as alice's true one. Without it, the two claims take
    /// two pseudo-random inputs of the model's input shape (seeds 0 and 1;
    /// floats in [0, 1), integer and boolean parts 0 or 1).
    #[arg(long, value_name = "FILE", requires = "model")]
    input: Option<PathBuf>,
    /// Fix an input shape of an ONNX --model: `NAME=1x3x224x224` (or
    /// `1x3x224x224` for the only input), as `dnnc convert --input-shape`.
    /// Needed when the model's input shape is symbolic.
    #[arg(
        long = "input-shape",
        value_name = "NAME=DIMS",
        value_delimiter = ';',
        requires = "model"
    )]
    input_shape: Vec<InputShape>,
    /// Where mallory's posted states go wrong, and so the one VM step the
    /// contract runs to refute her: the middle step of the first op
    /// (`first-op`), of op n/2 (`middle-op`), of the op of the most VM steps
    /// (`largest-op`) or of op N (`op:N`, from 0, as `dnnc inspect` numbers
    /// them), or the final step, every state true but the final one
    /// (`last-step`) [default: largest-op with --model, else last-step].
    #[arg(long, value_name = "WHERE")]
    fraud_at: Option<FraudAt>,
}

#[derive(Subcommand)]
enum Command {
    /// The whole story on an embedded devnet: deploy, register the digits
    /// model (or --model), an honest claim that finalizes, a fraudulent claim
    /// the watchdog refutes, a dishonest challenger that loses; exits
    /// non-zero if anything did not happen as it should.
    Demo(DemoArgs),
    /// Runs an embedded devnet, like anvil, until Ctrl-C (SIGINT) or SIGTERM.
    Devnet {
        /// Port on 127.0.0.1.
        #[arg(long, default_value_t = 8545)]
        port: u16,
        /// Chain id (a loaded chain keeps its own).
        #[arg(long, default_value_t = 31337, conflicts_with = "load_state")]
        chain_id: u64,
        /// Funded accounts (a loaded chain keeps its own).
        #[arg(long, default_value_t = 10, conflicts_with = "load_state")]
        accounts: u32,
        /// Also mine an empty block whenever this many seconds pass
        /// without a block; transactions still mine at once.
        #[arg(long, value_name = "SECONDS", value_parser = clap::value_parser!(u64).range(1..))]
        block_time: Option<u64>,
        /// Start from the chain a --dump-state wrote to FILE.
        #[arg(long, value_name = "FILE")]
        load_state: Option<PathBuf>,
        /// Write the chain to FILE on start and on SIGINT or SIGTERM (it may
        /// be the --load-state file).
        #[arg(long, value_name = "FILE")]
        dump_state: Option<PathBuf>,
    },
    /// Deploys the contracts and writes the deployment file.
    Deploy {
        /// Smallest claim bond, in ether.
        #[arg(long, default_value = "1")]
        min_claim_bond: String,
        /// Smallest challenge bond, in ether.
        #[arg(long, default_value = "0.5")]
        min_challenge_bond: String,
        /// Seconds a claim can be challenged.
        #[arg(long, default_value_t = 3600)]
        challenge_window: u64,
        /// Seconds each party of a game has for its moves.
        #[arg(long, default_value_t = 1800)]
        clock_budget: u64,
        /// Seconds before an unfulfilled request may be cancelled.
        #[arg(long, default_value_t = 7200)]
        request_ttl: u64,
    },
    /// Models.
    Model {
        #[command(subcommand)]
        command: ModelCommand,
    },
    /// Claims.
    Claim {
        #[command(subcommand)]
        command: ClaimCommand,
    },
    /// Games.
    Game {
        #[command(subcommand)]
        command: GameCommand,
    },
    /// Inference requests, with fees for whoever fulfils them.
    Request {
        #[command(subcommand)]
        command: RequestCommand,
    },
    /// Encrypted keystores for --keystore.
    Keys {
        #[command(subcommand)]
        command: KeysCommand,
    },
    /// Withdraws the account's credit (bonds back, rewards) from the
    /// manager; agents do this on their own.
    Withdraw,
    /// Prints a shell completion script (bash, zsh, fish, elvish,
    /// powershell) on stdout.
    Completions {
        /// The shell.
        shell: clap_complete::Shell,
    },
    /// The challenger watchdog: recomputes every claim of the given models,
    /// challenges wrong ones and plays every game to the end.
    Watch {
        /// Model packages to watch.
        #[arg(long = "model", required = true)]
        models: Vec<PathBuf>,
        /// Challenge bond, in ether [default: the deployment's minimum].
        #[arg(long)]
        bond: Option<String>,
        #[command(flatten)]
        engine: EngineArgs,
        #[command(flatten)]
        follow: AgentArgs,
    },
    /// The application gateway: an HTTP API (models, inferences, health,
    /// metrics) over a node for the given models, which holds the wallet;
    /// the node also serves on-chain requests (docs/gateway.md).
    Serve {
        /// Address to serve HTTP on.
        #[arg(long, env = "VERDICT_LISTEN", default_value = "127.0.0.1:8080")]
        listen: SocketAddr,
        /// A file of bearer tokens, one per line, that may post inferences
        /// (else VERDICT_API_TOKENS, comma-separated).
        #[arg(long, value_name = "FILE")]
        api_tokens: Option<PathBuf>,
        /// Inferences one token may post per minute.
        #[arg(long, env = "VERDICT_RATE_LIMIT", default_value_t = 60)]
        rate_limit: u32,
        /// Event streams (GET /v1/inferences/{id}/events) open at once at
        /// most; each follows the chain while open.
        #[arg(long, env = "VERDICT_MAX_EVENT_STREAMS", default_value_t = 256)]
        max_event_streams: usize,
        #[command(flatten)]
        node: NodeArgs,
    },
    /// The inference node: answers the requests for the given models (posts
    /// the claim of the true result, defends it, and fulfils the request
    /// once the claim is final, which pays the fee) and, as the watchdog
    /// does, refutes wrong claims of them.
    Node {
        #[command(flatten)]
        node: NodeArgs,
    },
}

/// What a node serves and how.
#[derive(Args, Clone)]
struct NodeArgs {
    /// Model packages to serve.
    #[arg(long = "model", required = true)]
    models: Vec<PathBuf>,
    /// Requests paying less, in ether, are declined.
    #[arg(long, env = "VERDICT_MIN_FEE", default_value = "0")]
    min_fee: String,
    /// Bond of each claim it posts, in ether [default: the deployment's
    /// minimum].
    #[arg(long)]
    claim_bond: Option<String>,
    /// Challenge bond, in ether [default: the deployment's minimum].
    #[arg(long)]
    bond: Option<String>,
    #[command(flatten)]
    engine: EngineArgs,
    #[command(flatten)]
    follow: AgentArgs,
}

impl NodeArgs {
    /// The agent of these flags.
    fn service(&self) -> Service<'_> {
        Service {
            models: &self.models,
            bond: self.bond.as_deref(),
            engine: &self.engine,
            follow: &self.follow,
        }
    }

    /// How it serves requests.
    fn serve(&self, s: &Settings) -> anyhow::Result<Serve> {
        Ok(Serve {
            min_fee: parse_ether(&self.min_fee)?,
            claim_bond: match &self.claim_bond {
                Some(b) => parse_ether(b)?,
                None => s.deployment()?.min_claim_bond,
            },
        })
    }
}

/// How an agent follows the chain and shows what it does.
#[derive(Args, Clone)]
struct AgentArgs {
    /// Serve Prometheus metrics at /metrics and a health check at /healthz
    /// on this address (e.g. 127.0.0.1:9464).
    #[arg(long, env = "VERDICT_METRICS")]
    metrics: Option<SocketAddr>,
    /// /healthz fails after this many seconds without a successful tick or
    /// without a new block.
    #[arg(long, env = "VERDICT_HEALTH_TIMEOUT", default_value_t = 300)]
    health_timeout: u64,
    /// Blocks an event must be under before it is acted on [default: 0 on
    /// development chains (ids 31337, 1337), 12 elsewhere].
    #[arg(long, env = "VERDICT_CONFIRMATIONS")]
    confirmations: Option<u64>,
    /// The most blocks one eth_getLogs spans (halved while the node
    /// refuses).
    #[arg(long, env = "VERDICT_LOG_RANGE", default_value_t = LOG_RANGE)]
    log_range: u64,
}

impl AgentArgs {
    /// An agent's settings recording in `data_dir`, with challenge bonds of
    /// `bond`, following the chain of `chain` as these flags say.
    async fn config(
        &self,
        chain: &Chain,
        data_dir: PathBuf,
        bond: U256,
    ) -> anyhow::Result<AgentConfig> {
        let mut config = AgentConfig::new(data_dir, bond);
        config.confirmations = match self.confirmations {
            Some(n) => n,
            None if DEV_CHAIN_IDS.contains(&chain_id(chain).await?) => 0,
            None => LIVE_CONFIRMATIONS,
        };
        config.log_range = self.log_range;
        Ok(config)
    }

    /// Serves `agent`'s metrics if asked to, until `stop` turns true.
    async fn serve_metrics(
        &self,
        agent: &Agent,
        stop: watch::Receiver<bool>,
    ) -> anyhow::Result<()> {
        if let Some(addr) = self.metrics {
            let timeout = Duration::from_secs(self.health_timeout);
            let bound = metrics::serve(addr, agent.metrics(), timeout, stop)
                .await
                .with_context(|| format!("serving metrics on {addr}"))?;
            note!("metrics on http://{bound}/metrics, health on http://{bound}/healthz");
        }
        Ok(())
    }
}

/// How long a command starting an agent waits for a node that does not
/// answer yet (restarting, briefly unreachable) before giving up.
const NODE_PATIENCE: Duration = Duration::from_secs(60);

/// The node's chain id, asked again with backoff while the node fails for
/// up to [`NODE_PATIENCE`]: an agent started in a node's hiccup should not
/// exit over it, as a running one does not.
async fn chain_id(chain: &Chain) -> anyhow::Result<u64> {
    let deadline = std::time::Instant::now() + NODE_PATIENCE;
    let mut backoff = Duration::from_millis(100);
    loop {
        match chain.chain_id().await {
            Err(e) if e.is_transient() && std::time::Instant::now() < deadline => {
                tracing::warn!("the node failed, asking again in {backoff:?}: {e}");
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(Duration::from_secs(5));
            }
            answer => return Ok(answer?),
        }
    }
}

/// Which engine computes claims.
#[derive(Args, Clone)]
struct EngineArgs {
    /// `native`, or `gpu` (the OpenCL engine: a build with `--features gpu`).
    #[arg(long, default_value = "native", value_parser = ["native", "gpu"])]
    engine: String,
    /// The OpenCL device of `--engine gpu`: `default` or PLATFORM:DEVICE.
    #[arg(long, env = "VERDICT_GPU_DEVICE", default_value = "default")]
    device: String,
}

impl EngineArgs {
    /// Sets `model` up to run on the chosen engine.
    fn prepare(&self, model: &mut ModelInfo) -> anyhow::Result<()> {
        if self.engine != "gpu" {
            return Ok(());
        }
        #[cfg(feature = "gpu")]
        {
            let choice = self
                .device
                .parse()
                .map_err(|e: String| Usage(anyhow::Error::msg(e)))?;
            model.use_gpu(choice)?;
            Ok(())
        }
        #[cfg(not(feature = "gpu"))]
        {
            let _ = model;
            Err(Usage(anyhow::anyhow!(
                "this verdict was built without the GPU engine (device {}): build it with `--features gpu`",
                self.device
            ))
            .into())
        }
    }
}

#[derive(Subcommand)]
enum ModelCommand {
    /// Registers a .dnn package.
    Register {
        /// The package.
        model: PathBuf,
    },
    /// The model id a package registers as (what watchdogs match claims
    /// on), its package hash, size and shapes; needs no chain.
    Info {
        /// The package.
        model: PathBuf,
    },
}

/// A claim's or request's input: a file, or a generation package's prompt.
#[derive(clap::Args)]
struct InputArgs {
    /// The input (.npy, .json or .png).
    #[arg(
        long,
        required_unless_present_any = ["prompt_ids", "prompt"],
        conflicts_with_all = ["prompt_ids", "prompt"]
    )]
    input: Option<PathBuf>,
    /// A generation package's prompt.
    #[command(flatten)]
    prompt: PromptArgs,
    /// How a sampled generation package draws (with a prompt).
    #[command(flatten)]
    sampling: SamplingArgs,
}

// Parsed once per process: the size of the largest variant costs nothing.
#[allow(clippy::large_enum_variant)]
#[derive(Subcommand)]
enum ClaimCommand {
    /// Computes the output natively, posts the claim with its bond, and
    /// defends it until it is final.
    Submit {
        /// The package.
        #[arg(long)]
        model: PathBuf,
        #[command(flatten)]
        input: InputArgs,
        /// Bond, in ether [default: the deployment's minimum].
        #[arg(long)]
        bond: Option<String>,
        /// Post and return without defending.
        #[arg(long)]
        no_defend: bool,
        /// Post another claim even if this account has one pending on this
        /// model and input (which is resumed otherwise).
        #[arg(long)]
        new: bool,
        /// Claim an input holding NaN or infinite values (refused otherwise:
        /// such an input is more often a broken file than a question).
        #[arg(long)]
        allow_non_finite: bool,
        /// Post a deliberately wrong claim (output value 0 raised by 1, the
        /// final state consistent with it), to see a watchdog refute it: it
        /// loses its bond. Refused on chains other than development chains
        /// (ids 31337 and 1337) without --i-know-this-loses-the-bond.
        #[arg(long)]
        falsify: bool,
        /// Allow --falsify on any chain.
        #[arg(long, requires = "falsify")]
        i_know_this_loses_the_bond: bool,
        #[command(flatten)]
        engine: EngineArgs,
        #[command(flatten)]
        follow: AgentArgs,
    },
    /// A claim's record on-chain.
    Status {
        /// The claim id.
        id: u64,
    },
    /// The latest claims, newest first.
    List {
        /// How many.
        #[arg(long, default_value_t = 20)]
        last: u64,
        /// Only claims with this status (pending, rejected, finalized).
        #[arg(long)]
        status: Option<String>,
    },
    /// Finalizes a claim whose challenge window has passed with no game
    /// open (its submitter's agent does this on its own).
    Finalize {
        /// The claim id.
        id: u64,
    },
}

#[derive(Subcommand)]
enum RequestCommand {
    /// Asks for model PACKAGE on an input, paying --fee to the submitter of
    /// the first final claim of its result (a node fulfils it); a refund
    /// can be had with `cancelRequest` once it expires unfulfilled.
    Submit {
        /// The package of the model asked for.
        #[arg(long)]
        model: PathBuf,
        #[command(flatten)]
        input: InputArgs,
        /// The fee, in ether.
        #[arg(long)]
        fee: String,
        /// A contract implementing IVerdictConsumer, called with the
        /// result when the request is fulfilled.
        #[arg(long)]
        callback: Option<Address>,
        /// Ask on an input holding NaN or infinite values.
        #[arg(long)]
        allow_non_finite: bool,
    },
    /// A request's record on-chain.
    Status {
        /// The request id.
        id: u64,
    },
    /// The latest requests, newest first.
    List {
        /// How many.
        #[arg(long, default_value_t = 20)]
        last: u64,
        /// Only requests with this status (open, fulfilled, cancelled).
        #[arg(long)]
        status: Option<String>,
    },
}

#[derive(Subcommand)]
enum KeysCommand {
    /// Makes a new random key and writes it to a new keystore, encrypted
    /// with a password (VERDICT_KEYSTORE_PASSWORD, or asked for).
    New {
        /// The keystore file to write (never overwritten).
        path: PathBuf,
    },
    /// Writes the key in VERDICT_PRIVATE_KEY to a new keystore.
    Import {
        /// The keystore file to write (never overwritten).
        path: PathBuf,
    },
}

#[derive(Subcommand)]
enum GameCommand {
    /// A game's record on-chain.
    Status {
        /// The game id.
        id: u64,
    },
    /// The latest games, newest first.
    List {
        /// How many.
        #[arg(long, default_value_t = 20)]
        last: u64,
        /// Only the games of this claim.
        #[arg(long)]
        claim: Option<u64>,
    },
}

/// The config file's settings.
#[derive(Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileConfig {
    rpc_url: Option<String>,
    deployment: Option<PathBuf>,
    keystore: Option<PathBuf>,
    data_dir: Option<PathBuf>,
}

/// Settings after flags, environment, file and defaults.
struct Settings {
    rpc_url: String,
    deployment: PathBuf,
    keystore: Option<PathBuf>,
    data_dir: PathBuf,
    json: bool,
}

impl Settings {
    fn resolve(g: &Global) -> anyhow::Result<Settings> {
        let file: FileConfig = match &g.config {
            Some(path) => serde_json::from_slice(
                &std::fs::read(path).with_context(|| format!("reading {}", path.display()))?,
            )
            .with_context(|| format!("{}: not a verdict config file", path.display()))?,
            None => FileConfig::default(),
        };
        Ok(Settings {
            rpc_url: g
                .rpc_url
                .clone()
                .or(file.rpc_url)
                .unwrap_or_else(|| "http://127.0.0.1:8545".into()),
            deployment: g
                .deployment
                .clone()
                .or(file.deployment)
                .unwrap_or_else(|| "deployment.json".into()),
            keystore: g.keystore.clone().or(file.keystore),
            data_dir: g
                .data_dir
                .clone()
                .or(file.data_dir)
                .unwrap_or_else(|| ".verdict".into()),
            json: g.json,
        })
    }

    /// The account's key: from the keystore, or from VERDICT_PRIVATE_KEY.
    fn signer(&self) -> anyhow::Result<PrivateKeySigner> {
        match &self.keystore {
            Some(path) => keys::open(path),
            None => keys::from_env(),
        }
    }

    fn chain(&self) -> anyhow::Result<Chain> {
        let signer = self.signer().map_err(Usage)?;
        Ok(Chain::connect(&self.rpc_url, signer).map_err(|e| Usage(e.into()))?)
    }

    /// Chain access for reading only: no key needed.
    fn reader(&self) -> anyhow::Result<Chain> {
        Ok(Chain::connect(&self.rpc_url, PrivateKeySigner::random())
            .map_err(|e| Usage(e.into()))?)
    }

    fn deployment(&self) -> anyhow::Result<Deployment> {
        Ok(Deployment::load(&self.deployment)
            .context("run `verdict deploy` first, or give --deployment")
            .map_err(Usage)?)
    }
}

/// A command refused for what it was given (a flag, or a file or key it
/// names) rather than for what happened as it ran: exit status 2, as for
/// the parser's own usage errors.
#[derive(Debug, thiserror::Error)]
#[error("{0:#}")]
struct Usage(anyhow::Error);

/// Exit status of a failed command: 2 if refused as given, else 1.
fn exit_code(e: &anyhow::Error) -> u8 {
    if e.chain().any(|c| c.is::<Usage>()) {
        2
    } else {
        1
    }
}

/// The package at `path`, verified, or a usage error naming it.
fn load_package(path: &Path) -> anyhow::Result<ModelInfo> {
    Ok(ModelInfo::load(path)
        .with_context(|| format!("loading {}", path.display()))
        .map_err(Usage)?)
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    // -v and -vv raise our crates' level only: the HTTP and RPC stack's
    // debug logs drown the agent's (RUST_LOG can still ask for them).
    let ours = ["warn", "info", "debug", "trace"][usize::from(cli.global.verbose.min(3))];
    let default = format!(
        "warn,verdict={ours},verdict_challenger={ours},verdict_devnet={ours},verdict_dnn={ours}"
    );
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default)),
        )
        .with_ansi(std::io::stderr().is_terminal())
        .with_writer(std::io::stderr)
        .init();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            note!("error: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let json = cli.global.json;
    match runtime.block_on(run(cli)) {
        Ok(code) => code,
        Err(e) => {
            let code = exit_code(&e);
            if json {
                out!(
                    "{}",
                    serde_json::json!({ "error": format!("{e:#}"), "exit_code": code })
                );
            } else {
                note!("error: {e:#}");
            }
            ExitCode::from(code)
        }
    }
}

/// Parses an amount in ether ("1", "0.5") into wei.
fn parse_ether(text: &str) -> anyhow::Result<U256> {
    let (whole, frac) = text.split_once('.').unwrap_or((text, ""));
    let refused = || Usage(anyhow::anyhow!("{text:?} is not an amount of ether"));
    if frac.len() > 18 || whole.is_empty() && frac.is_empty() {
        return Err(refused().into());
    }
    let digits = format!("{whole}{frac:0<18}");
    U256::from_str_radix(&digits, 10).map_err(|_| refused().into())
}

/// Exit status 0 if `ok`, else 1.
fn status(ok: bool) -> ExitCode {
    if ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    }
}

/// `view` as JSON or as a line of text.
fn show(s: &Settings, view: &(impl serde::Serialize + std::fmt::Display)) {
    if s.json {
        print_json(view);
    } else {
        out!("{view}");
    }
}

/// `views` as one JSON array or as lines of text.
fn show_all<V: serde::Serialize + std::fmt::Display>(s: &Settings, views: &[V]) {
    if s.json {
        print_json(&views);
    } else {
        views.iter().for_each(|v| out!("{v}"));
    }
}

/// One JSON object on one line: the output of `--json`, which long-running
/// commands follow with one line per event.
fn print_json(value: &impl serde::Serialize) {
    out!("{}", serde_json::to_string(value).expect("serialisable"));
}

async fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    let s = Settings::resolve(&cli.global).map_err(Usage)?;
    match cli.command {
        Command::Demo(args) => Ok(status(run_demo(&s, args).await?)),
        Command::Devnet {
            port,
            chain_id,
            accounts,
            block_time,
            load_state,
            dump_state,
        } => {
            let config = DevnetConfig {
                load_state,
                chain_id,
                accounts,
                addr: ([127, 0, 0, 1], port).into(),
                block_time: block_time.map(Duration::from_secs),
                dump_state,
                ..DevnetConfig::default()
            };
            devnet::run(config).await?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Deploy {
            min_claim_bond,
            min_challenge_bond,
            challenge_window,
            clock_budget,
            request_ttl,
        } => {
            let config = Config {
                min_claim_bond: parse_ether(&min_claim_bond)?,
                min_challenge_bond: parse_ether(&min_challenge_bond)?,
                challenge_window,
                clock_budget,
                request_ttl,
            };
            let d = Deployment::deploy(&s.chain()?, &config).await?;
            d.save(&s.deployment)?;
            if s.json {
                print_json(&d);
            } else {
                out!(
                    "VerdictVM     {}\nModelRegistry {}\nClaimManager  {}\nwritten to {}",
                    d.verifier,
                    d.registry,
                    d.manager,
                    s.deployment.display()
                );
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Model {
            command: ModelCommand::Info { model },
        } => {
            let info = load_package(&model)?;
            let m = &info.compiled.model;
            let generation = GenerationSummary::of(m);
            let report = serde_json::json!({
                "model_id": info.model_id(), "package_hash": info.package_hash,
                "ops": info.ops(), "total_steps": info.total_steps(),
                "input_shape": m.tensors[m.input].shape, "output_shape": m.tensors[m.output].shape,
                "generation": generation, "schema": m.schema,
            });
            if s.json {
                print_json(&report);
            } else {
                out!(
                    "model {}\npackage {}\n{} ops, {} VM steps\ninput {:?}, output {:?}",
                    info.model_id(),
                    info.package_hash,
                    info.ops(),
                    info.total_steps(),
                    m.tensors[m.input].shape,
                    m.tensors[m.output].shape
                );
                if let Some(g) = generation {
                    let how = if g.sampled { "sampled" } else { "greedy" };
                    out!(
                        "generates {} tokens ({how}) after a prompt of {}",
                        g.max_new_tokens,
                        g.prompt_len
                    );
                }
                if let Some(schema) = &m.schema {
                    let labelled = schema.outputs.iter().filter(|p| !p.labels.is_empty());
                    let ranged = schema.inputs.iter().filter(|p| p.range.is_some());
                    out!(
                        "schema: {} input part(s) with a range, {} labelled output part(s) (dnnc inspect shows it)",
                        ranged.count(),
                        labelled.count()
                    );
                }
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Model {
            command: ModelCommand::Register { model },
        } => {
            let d = s.deployment()?;
            let info = load_package(&model)?;
            let sent = s
                .chain()?
                .send(d.registry, &info.register_call(), U256::ZERO)
                .await?;
            let id = info.model_id();
            if s.json {
                print_json(
                    &serde_json::json!({ "model_id": id, "gas": sent.gas_used(), "ops": info.ops(), "total_steps": info.total_steps() }),
                );
            } else {
                out!(
                    "registered {} as model {id} ({} ops, {} steps, {} gas)",
                    model.display(),
                    info.ops(),
                    info.total_steps(),
                    sent.gas_used()
                );
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Claim {
            command:
                ClaimCommand::Submit {
                    model,
                    input,
                    bond,
                    no_defend,
                    new,
                    allow_non_finite,
                    falsify,
                    i_know_this_loses_the_bond,
                    engine,
                    follow,
                },
        } => {
            let input = (&input, allow_non_finite);
            let falsify = match (falsify, i_know_this_loses_the_bond) {
                (false, _) => Falsifying::No,
                (true, false) => Falsifying::OnDevChains,
                (true, true) => Falsifying::Anywhere,
            };
            let how = Submit {
                no_defend,
                new,
                falsify,
            };
            submit(&s, (&model, &engine, &follow), input, bond.as_deref(), how).await
        }
        Command::Claim {
            command: ClaimCommand::Status { id },
        } => {
            let view =
                records::one::<records::ClaimView>(&s.reader()?, s.deployment()?.manager, id)
                    .await?;
            show(&s, &view);
            Ok(ExitCode::SUCCESS)
        }
        Command::Claim {
            command: ClaimCommand::List { last, status },
        } => {
            let mut views =
                records::latest::<records::ClaimView>(&s.reader()?, s.deployment()?.manager, last)
                    .await?;
            if let Some(status) = status {
                views.retain(|v| v.status.eq_ignore_ascii_case(&status));
            }
            show_all(&s, &views);
            Ok(ExitCode::SUCCESS)
        }
        Command::Claim {
            command: ClaimCommand::Finalize { id },
        } => {
            let call = ClaimManager::finalizeCall {
                claimId: U256::from(id),
            };
            let shown = serde_json::json!({ "claim_id": id });
            send_to_manager(&s, &call, shown, format!("finalized claim {id}")).await
        }
        Command::Game {
            command: GameCommand::Status { id },
        } => {
            let view = records::one::<records::GameView>(&s.reader()?, s.deployment()?.manager, id)
                .await?;
            show(&s, &view);
            Ok(ExitCode::SUCCESS)
        }
        Command::Game {
            command: GameCommand::List { last, claim },
        } => {
            let mut views =
                records::latest::<records::GameView>(&s.reader()?, s.deployment()?.manager, last)
                    .await?;
            if let Some(claim) = claim {
                views.retain(|v| v.claim_id == claim);
            }
            show_all(&s, &views);
            Ok(ExitCode::SUCCESS)
        }
        Command::Keys { command } => {
            let (path, signer) = match command {
                KeysCommand::New { path } => (path, PrivateKeySigner::random()),
                KeysCommand::Import { path } => (path, keys::from_env().map_err(Usage)?),
            };
            keys::save(&path, &signer).map_err(Usage)?;
            if s.json {
                print_json(&serde_json::json!({ "address": signer.address(), "keystore": path }));
            } else {
                out!("{} in {}", signer.address(), path.display());
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Withdraw => {
            let d = s.deployment()?;
            let chain = s.chain()?;
            let credit = chain
                .view(
                    d.manager,
                    &ClaimManager::creditCall {
                        account: chain.account(),
                    },
                )
                .await?;
            if credit.is_zero() {
                bail!("{} has no credit to withdraw", chain.account());
            }
            let shown = serde_json::json!({ "amount": credit.to_string() });
            let text = format!("withdrew {} ETH", fmt_eth(credit));
            send_to_manager(&s, &ClaimManager::withdrawCall {}, shown, text).await
        }
        Command::Completions { shell } => {
            clap_complete::generate(
                shell,
                &mut Cli::command(),
                "verdict",
                &mut std::io::stdout(),
            );
            Ok(ExitCode::SUCCESS)
        }
        Command::Watch {
            models,
            bond,
            engine,
            follow,
        } => {
            let agent = Service {
                models: &models,
                bond: bond.as_deref(),
                engine: &engine,
                follow: &follow,
            };
            agent.run(&s, "watch", None, None).await
        }
        Command::Node { node } => {
            let serve = node.serve(&s)?;
            node.service().run(&s, "node", Some(serve), None).await
        }
        Command::Serve {
            listen,
            api_tokens,
            rate_limit,
            max_event_streams,
            node,
        } => {
            let serve = node.serve(&s)?;
            let gateway = GatewayConfig {
                tokens: api_tokens_from(api_tokens.as_deref())?,
                per_minute: rate_limit,
                claim_bond: serve.claim_bond,
                health_timeout: Duration::from_secs(node.follow.health_timeout),
                max_event_streams,
            };
            node.service()
                .run(&s, "node", Some(serve), Some((listen, gateway)))
                .await
        }
        Command::Request {
            command:
                RequestCommand::Submit {
                    model,
                    input,
                    fee,
                    callback,
                    allow_non_finite,
                },
        } => {
            let d = s.deployment()?;
            let info = load_package(&model)?;
            let values = read_input(&info, &input, allow_non_finite)?;
            let fee = parse_ether(&fee)?;
            let call = ClaimManager::requestCall {
                modelId: info.model_id(),
                input: info.encode_input(&values)?.into(),
                callback: callback.unwrap_or(Address::ZERO),
            };
            let sent = s.chain()?.send(d.manager, &call, fee).await?;
            let (request_id, expiry) = sent
                .logs()
                .find_map(|l| {
                    let e = ClaimManager::Requested::decode_log(l).ok()?.data;
                    Some((e.requestId.to::<u64>(), e.expiry))
                })
                .context("the request's transaction logged no Requested event")?;
            let tx = sent.tx();
            if s.json {
                print_json(&serde_json::json!({
                    "request_id": request_id, "model_id": info.model_id(),
                    "fee": fee.to_string(), "expiry": expiry, "tx": tx,
                }));
            } else {
                out!(
                    "request {request_id} for model {} with a fee of {} ETH ({tx})",
                    info.model_id(),
                    fmt_eth(fee)
                );
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Request {
            command: RequestCommand::Status { id },
        } => {
            let view =
                records::one::<records::RequestView>(&s.reader()?, s.deployment()?.manager, id)
                    .await?;
            show(&s, &view);
            Ok(ExitCode::SUCCESS)
        }
        Command::Request {
            command: RequestCommand::List { last, status },
        } => {
            let mut views = records::latest::<records::RequestView>(
                &s.reader()?,
                s.deployment()?.manager,
                last,
            )
            .await?;
            if let Some(status) = status {
                views.retain(|v| v.status.eq_ignore_ascii_case(&status));
            }
            show_all(&s, &views);
            Ok(ExitCode::SUCCESS)
        }
    }
}

/// The settings of an agent that runs until stopped: `watch`, and `node`
/// (a watchdog that also serves requests).
struct Service<'a> {
    models: &'a [PathBuf],
    /// Challenge bond, in ether.
    bond: Option<&'a str>,
    engine: &'a EngineArgs,
    follow: &'a AgentArgs,
}

impl Service<'_> {
    /// Runs the agent, recording under `name` in the data directory,
    /// serving requests as `serve` says and the gateway's HTTP API on the
    /// address given with it, until SIGINT or SIGTERM.
    async fn run(
        &self,
        s: &Settings,
        name: &str,
        serve: Option<Serve>,
        gateway: Option<(SocketAddr, GatewayConfig)>,
    ) -> anyhow::Result<ExitCode> {
        let d = s.deployment()?;
        let infos = self
            .models
            .iter()
            .map(|m| {
                let mut info = load_package(m)?;
                self.engine.prepare(&mut info)?;
                Ok(Arc::new(info))
            })
            .collect::<anyhow::Result<Vec<_>>>()?;
        let bond = match self.bond {
            Some(b) => parse_ether(b)?,
            None => d.min_challenge_bond,
        };
        let chain = s.chain()?;
        let mut config = self
            .follow
            .config(&chain, s.data_dir.join(name), bond)
            .await?;
        config.watch = true;
        let serving = serve.is_some();
        config.serve = serve;
        let manager = d.manager;
        let mut agent = Agent::new(chain, d, config, infos)?;
        let what = if serving {
            "serving requests"
        } else {
            "watching"
        };
        note!("{what} as {}; Ctrl-C stops", agent.chain().account());
        let (stop_metrics, stopped_rx) = watch::channel(false);
        self.follow
            .serve_metrics(&agent, stopped_rx.clone())
            .await?;
        if let Some((addr, config)) = gateway {
            let app = gateway::router(&mut agent, manager, config)?;
            let listener = tokio::net::TcpListener::bind(addr)
                .await
                .with_context(|| format!("listening on {addr}"))
                .map_err(Usage)?;
            note!("the API on http://{}", listener.local_addr()?);
            let mut stopped = stopped_rx;
            tokio::spawn(async move {
                let shutdown = async move {
                    let _ = stopped.wait_for(|stop| *stop).await;
                };
                if let Err(e) = axum::serve(listener, app)
                    .with_graceful_shutdown(shutdown)
                    .await
                {
                    tracing::error!("the API stopped: {e}");
                }
            });
        }
        let (_, stopped) = run_until_signal(agent, s.json, |_| false).await?;
        let _ = stop_metrics.send(true);
        Ok(stopped.unwrap_or(ExitCode::SUCCESS))
    }
}

/// The API tokens of `verdict serve`: the lines of `file`, else
/// VERDICT_API_TOKENS split at commas; at least one is needed.
fn api_tokens_from(file: Option<&Path>) -> anyhow::Result<Vec<String>> {
    let text = match file {
        Some(path) => std::fs::read_to_string(path)
            .with_context(|| format!("reading {}", path.display()))
            .map_err(Usage)?,
        None => std::env::var("VERDICT_API_TOKENS")
            .unwrap_or_default()
            .replace(',', "\n"),
    };
    let tokens: Vec<String> = text
        .lines()
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .map(str::to_owned)
        .collect();
    if tokens.is_empty() {
        return Err(Usage(anyhow::anyhow!(
            "no API tokens: posting an inference spends this account's funds, so give --api-tokens FILE or VERDICT_API_TOKENS"
        ))
        .into());
    }
    Ok(tokens)
}

/// The input `given` for `info`'s model, checked against its shape (and,
/// for a generation package, its prompt length and vocabulary); NaN and
/// infinite values refused unless `allow_non_finite` (such an input is more
/// often a broken file than a question).
fn read_input(
    info: &ModelInfo,
    given: &InputArgs,
    allow_non_finite: bool,
) -> anyhow::Result<Vec<f32>> {
    let ir = &info.compiled.model;
    let usage = |message: &str| Err(Usage(anyhow::anyhow!("{message}")).into());
    let Some(path) = &given.input else {
        let Some(g) = &ir.generation else {
            return usage("a prompt is for a generation package; give this model --input FILE");
        };
        let text = given
            .prompt
            .text(g.tokenizer.as_deref())
            .map_err(|e| Usage(e.into()))?;
        let ids = given
            .prompt
            .ids(text.as_ref())
            .map_err(|e| Usage(e.into()))?;
        return Ok(g
            .input(ir, &ids, given.sampling.sampling())
            .map_err(|e| Usage(e.into()))?);
    };
    if given.sampling.sampling().is_some() {
        return usage("--seed, --temperature, --top-k and --top-p go with a prompt");
    }
    let pixels = Pixels::for_encoding(ir.input_encoding);
    let shape = &ir.tensors[ir.input].shape;
    let values = verdict_converter::tensor_io::read_input(path, shape, pixels)
        .map_err(|e| Usage(e.into()))?;
    if !allow_non_finite && let Some(i) = values.iter().position(|v| !v.is_finite()) {
        return Err(Usage(anyhow::anyhow!(
            "{}: value {i} is {}; --allow-non-finite takes such an input",
            path.display(),
            values[i]
        ))
        .into());
    }
    if let Some(g) = &ir.generation {
        let prompt = &values[..g.prompt_len(ir).min(values.len())];
        g.check_prompt(ir, prompt).map_err(|e| Usage(e.into()))?;
    }
    if let Some(schema) = &ir.schema {
        schema
            .check_input(ir, &values)
            .map_err(|e| Usage(anyhow::anyhow!("{}: {e}", path.display())))?;
    }
    Ok(values)
}

/// Runs a generation package natively on `prompt`, printing each token as
/// its pass ends (a JSON line each under `json`), before the claim of them
/// is posted.
fn stream_tokens(
    info: &ModelInfo,
    prompt: &[f32],
    text: Option<&Text>,
    json: bool,
) -> anyhow::Result<()> {
    let ir = &info.compiled.model;
    let Some(g) = &ir.generation else {
        return Ok(());
    };
    let mut index = 0;
    let mut stream = text.map(TextStream::new);
    let mut failed = None;
    info.compiled.infer_observed(prompt, |n, words| {
        let Some(token) = g.token_of(ir, n, words).filter(|_| failed.is_none()) else {
            return;
        };
        let piece = match stream.as_mut().map(|s| s.push(token)).transpose() {
            Ok(piece) => piece,
            Err(e) => {
                failed = Some(e);
                return;
            }
        };
        if json {
            print_json(&serde_json::json!({"event": "token", "index": index, "token": token, "text": piece}));
        } else {
            use std::io::Write as _;
            let mut out = std::io::stdout().lock();
            let lead = if index == 0 { "tokens:" } else { "" };
            let shown = piece.unwrap_or_else(|| format!(" {token}"));
            let _ = write!(out, "{lead}{shown}").and_then(|()| out.flush());
        }
        index += 1;
    })?;
    if let Some(e) = failed {
        return Err(e.into());
    }
    if !json {
        out!("");
    }
    Ok(())
}

/// Sends `call` to the manager and shows its transaction: `shown` with
/// `tx` added under `--json`, else `text` and the transaction.
async fn send_to_manager<C: SolCall>(
    s: &Settings,
    call: &C,
    mut shown: serde_json::Value,
    text: String,
) -> anyhow::Result<ExitCode> {
    let manager = s.deployment()?.manager;
    let tx = s.chain()?.send(manager, call, U256::ZERO).await?.tx();
    if s.json {
        shown["tx"] = serde_json::to_value(tx)?;
        print_json(&shown);
    } else {
        out!("{text} ({tx})");
    }
    Ok(ExitCode::SUCCESS)
}

/// Runs `agent` until `done` says so or SIGINT or SIGTERM stops it,
/// printing what it does. A signal lets the agent finish its tick and save
/// its record, then returns the exit status that reports the signal; a
/// second signal exits at once (the record on disk is always whole).
async fn run_until_signal(
    agent: Agent,
    json: bool,
    done: impl Fn(&AgentState) -> bool + Send + 'static,
) -> anyhow::Result<(Agent, Option<ExitCode>)> {
    use tokio::signal::unix::{SignalKind, signal};
    let mut interrupt = signal(SignalKind::interrupt()).context("listening for SIGINT")?;
    let mut terminate = signal(SignalKind::terminate()).context("listening for SIGTERM")?;
    let (stop_tx, stop_rx) = watch::channel(false);
    let (tx, mut rx) = mpsc::unbounded_channel();
    let mut task = tokio::spawn(agent.run(stop_rx, Some(tx), done));
    let mut stopped: Option<u8> = None;
    let show = |a: Activity| {
        if json {
            print_json(&a);
        } else {
            out!("{a}");
        }
    };
    loop {
        let caught = tokio::select! {
            _ = interrupt.recv() => EXIT_SIGINT,
            _ = terminate.recv() => EXIT_SIGTERM,
            a = rx.recv() => {
                a.into_iter().for_each(show);
                continue;
            }
            agent = &mut task => {
                // What the agent did in its last tick is still queued.
                while let Ok(a) = rx.try_recv() {
                    show(a);
                }
                return Ok((agent??, stopped.map(ExitCode::from)));
            }
        };
        if let Some(code) = stopped {
            note!("stopped without waiting for the agent's tick");
            std::process::exit(code.into());
        }
        note!("stopping: the agent saves its record after its tick");
        stopped = Some(caught);
        let _ = stop_tx.send(true);
    }
}

/// How `claim submit` goes about its claim.
struct Submit {
    /// Post and return.
    no_defend: bool,
    /// Post even if the same claim is pending.
    new: bool,
    /// Whether to post a wrong claim.
    falsify: Falsifying,
}

/// Whether `claim submit` posts a deliberately wrong claim, and where.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Falsifying {
    No,
    OnDevChains,
    Anywhere,
}

/// Chain ids of development chains (anvil, hardhat and the devnet; geth
/// and ganache dev mode), where `--falsify` needs no confirmation.
const DEV_CHAIN_IDS: [u64; 2] = [31337, 1337];

/// The wrong claim `--falsify` posts.
const FALSIFY: Falsify = Falsify {
    index: 0,
    delta: 1.0,
};

async fn submit(
    s: &Settings,
    (model, engine, follow): (&Path, &EngineArgs, &AgentArgs),
    (input, allow_non_finite): (&InputArgs, bool),
    bond: Option<&str>,
    how: Submit,
) -> anyhow::Result<ExitCode> {
    let d = s.deployment()?;
    let mut info = load_package(model)?;
    engine.prepare(&mut info)?;
    let info = Arc::new(info);
    let values = read_input(&info, input, allow_non_finite)?;
    let bond = match bond {
        Some(b) => parse_ether(b)?,
        None => d.min_claim_bond,
    };
    let chain = s.chain()?;
    let mut config = follow
        .config(&chain, s.data_dir.join("submit"), d.min_challenge_bond)
        .await?;
    if how.falsify != Falsifying::No {
        let chain_id = chain_id(&chain).await?;
        if how.falsify == Falsifying::OnDevChains && !DEV_CHAIN_IDS.contains(&chain_id) {
            return Err(Usage(anyhow::anyhow!(
                "--falsify on chain {chain_id}, not a development chain ({DEV_CHAIN_IDS:?}): the claim loses its bond; add --i-know-this-loses-the-bond to post it"
            ))
            .into());
        }
        config.strategy = Arc::new(FALSIFY);
    }
    let mut agent = Agent::new(chain, d, config, vec![info.clone()])?;
    let pending = if how.new {
        None
    } else {
        // A tick first: a claim posted before a crash may be on chain only.
        agent.tick().await?;
        agent.pending_claim(info.model_id(), &values)?
    };
    let resumed = pending.is_some();
    let (claim_id, claim) = match pending {
        Some(pending) => pending,
        None => {
            let packaged = info.compiled.model.generation.as_ref();
            let text = input
                .prompt
                .text(packaged.and_then(|g| g.tokenizer.as_deref()))
                .map_err(|e| Usage(e.into()))?;
            stream_tokens(&info, &values, text.as_ref(), s.json)?;
            let (claim_id, claim, _) = agent.submit(&info, &values, bond).await?;
            (claim_id, claim)
        }
    };
    let (final_hash, output) = (claim.final_hash, claim.output);
    let ir = &info.compiled.model;
    let classes = ir.schema.as_ref().map_or_else(Vec::new, |schema| {
        schema.top_classes(ir, &output, verdict_dnn::schema::TOP_CLASSES)
    });
    let report = serde_json::json!({
        "claim_id": claim_id, "output": output, "classes": classes,
        "final_state_hash": final_hash, "resumed": resumed,
    });
    if s.json {
        print_json(&report);
    } else if resumed {
        out!("claim {claim_id} resumed (--new posts another): output {output:?}");
    } else {
        out!("claim {claim_id} posted: output {output:?}");
    }
    if !s.json {
        for c in &classes {
            out!("  {} {}: {} ({})", c.part, c.index, c.label, c.value);
        }
    }
    if how.no_defend {
        return Ok(ExitCode::SUCCESS);
    }
    note!("defending claim {claim_id} until it is final; Ctrl-C stops (a restart resumes)");
    let final_state = move |state: &AgentState| {
        state
            .claims
            .get(&claim_id)
            .is_some_and(|c| c.status != ClaimStatus::Pending)
    };
    let (stop_metrics, stopped_rx) = watch::channel(false);
    follow.serve_metrics(&agent, stopped_rx).await?;
    let (agent, stopped) = run_until_signal(agent, s.json, final_state).await?;
    let _ = stop_metrics.send(true);
    if let Some(code) = stopped {
        return Ok(code);
    }
    let state = agent.state().claims.get(&claim_id).map(|c| c.status);
    Ok(status(state == Some(ClaimStatus::Finalized)))
}

async fn run_demo(s: &Settings, args: DemoArgs) -> anyhow::Result<bool> {
    let path = args
        .model
        .clone()
        .unwrap_or_else(|| args.models.join(demo::BUNDLED_MODEL));
    let (model, loaded) = demo::load_model(&path, &args.input_shape).map_err(Usage)?;
    let model = Arc::new(model);
    let inputs = match (&args.model, &args.input) {
        (None, _) => demo::samples(&args.models)?,
        (Some(_), Some(file)) => {
            let given = InputArgs {
                input: Some(file.clone()),
                prompt: PromptArgs::default(),
                sampling: SamplingArgs::default(),
            };
            let x = read_input(&model, &given, false)?;
            [x.clone(), x]
        }
        (Some(_), None) => [demo::random_input(&model, 0), demo::random_input(&model, 1)],
    };
    let fraud_at = args.fraud_at.unwrap_or(if args.model.is_some() {
        FraudAt::LargestOp
    } else {
        FraudAt::LastStep
    });
    if fraud_at.step(&model).is_none() {
        return Err(Usage(anyhow::anyhow!(
            "--fraud-at {fraud_at}: {} has {} ops (0 to {})",
            path.display(),
            model.compiled.model.nodes.len(),
            model.compiled.model.nodes.len().saturating_sub(1)
        ))
        .into());
    }
    let devnet = if args.external {
        None
    } else {
        Some(Devnet::start(DevnetConfig::default()).await?)
    };
    let (url, keys) = match &devnet {
        Some(d) => (
            d.url(),
            d.accounts()
                .iter()
                .take(5)
                .map(|a| a.signer())
                .collect::<Result<Vec<_>, _>>()?,
        ),
        None => (
            s.rpc_url.clone(),
            devnet::dev_accounts(5)?
                .iter()
                .map(|a| a.signer())
                .collect::<Result<Vec<_>, _>>()?,
        ),
    };
    let keys: [PrivateKeySigner; 5] = keys
        .try_into()
        .map_err(|_| anyhow::anyhow!("five dev accounts needed"))?;
    let data_dir = tempdir(&s.data_dir)?;
    let json = s.json;
    let say = move |line: String| {
        if !json {
            out!("{line}");
        }
    };
    if !json {
        out!("verdict demo on {url}");
    }
    let report = demo::run(
        DemoConfig {
            rpc_url: url,
            keys,
            model,
            inputs,
            fraud_at,
            prelude: vec![loaded],
            data_dir: data_dir.clone(),
            // A model of any size gets the games' own clocks (30 minutes):
            // a party slower than that loses on time anyway.
            phase_timeout: Duration::from_secs(if args.model.is_some() { 1800 } else { 120 }),
        },
        &say,
    )
    .await?;
    let _ = std::fs::remove_dir_all(&data_dir);
    if let Some(d) = devnet {
        d.stop().await;
    }
    if json {
        print_json(&report);
    } else {
        for g in &report.games {
            out!(
                "game {} on claim {}: {} moves, {} gas, ended at level {} over [{}, {}], won by {}",
                g.game_id,
                g.claim_id,
                g.moves,
                g.gas,
                g.level,
                g.lo,
                g.hi,
                g.winner
            );
        }
        for a in &report.accounts {
            out!(
                "{:32} {} balance change {} wei (fees {} wei)",
                a.name,
                a.address,
                a.balance_change,
                a.fees
            );
        }
        out!(
            "burned {} ETH",
            fmt_eth(report.burned.parse().unwrap_or_default())
        );
        for f in &report.failures {
            out!("FAILED: {f}");
        }
        out!(
            "{} in {:.1} s",
            if report.ok {
                "demo passed"
            } else {
                "demo FAILED"
            },
            report.seconds
        );
    }
    Ok(report.ok)
}

/// A fresh folder under `base` for one run's agent records.
fn tempdir(base: &Path) -> anyhow::Result<PathBuf> {
    let dir = base.join(format!("demo-{}", std::process::id()));
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    Ok(dir)
}
