//! `verdict`: deploy the contracts, register models, post and defend claims,
//! watch for wrong claims and refute them, and run the whole story on an
//! embedded devnet (`verdict demo`).
//!
//! Settings come from flags, then `VERDICT_*` environment variables, then a
//! JSON config file (`--config`), then defaults. Keys never come from the
//! command line: `VERDICT_PRIVATE_KEY`, or a keystore file (`--keystore`)
//! with its password in `VERDICT_KEYSTORE_PASSWORD`.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use alloy::signers::local::PrivateKeySigner;
use alloy_primitives::U256;
use anyhow::{Context, bail};
use clap::{Args, Parser, Subcommand};
use serde::Deserialize;
use tokio::sync::{mpsc, watch};
use verdict_challenger::agent::{Agent, AgentConfig};
use verdict_challenger::chain::Chain;
use verdict_challenger::demo::{self, DemoConfig, fmt_eth};
use verdict_challenger::deployment::Deployment;
use verdict_challenger::devnet::{self, Devnet, DevnetConfig};
use verdict_challenger::model::ModelInfo;
use verdict_challenger::store::{AgentState, ClaimStatus};
use verdict_contracts::bindings::ClaimManager;
use verdict_contracts::protocol::Config;

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
    /// More logging (-v info, -vv debug); RUST_LOG overrides.
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    verbose: u8,
}

#[derive(Subcommand)]
enum Command {
    /// The whole story on an embedded devnet: deploy, register the digits
    /// model, an honest claim that finalizes, a fraudulent claim the watchdog
    /// refutes, a dishonest challenger that loses; exits non-zero if anything
    /// did not happen as it should.
    Demo {
        /// The folder with digits_mlp.onnx and samples.json.
        #[arg(long, default_value = "models")]
        models: PathBuf,
        /// Run on the chain at --rpc-url instead of an embedded devnet (dev
        /// keys of the test mnemonic, as anvil's).
        #[arg(long)]
        external: bool,
    },
    /// Runs an embedded devnet, like anvil, until Ctrl-C.
    Devnet {
        /// Port on 127.0.0.1.
        #[arg(long, default_value_t = 8545)]
        port: u16,
        /// Chain id.
        #[arg(long, default_value_t = 31337)]
        chain_id: u64,
        /// Funded accounts.
        #[arg(long, default_value_t = 10)]
        accounts: u32,
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
    },
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
            let choice = self.device.parse().map_err(anyhow::Error::msg)?;
            model.use_gpu(choice)?;
            Ok(())
        }
        #[cfg(not(feature = "gpu"))]
        {
            let _ = model;
            bail!(
                "this verdict was built without the GPU engine (device {}): build it with `--features gpu`",
                self.device
            )
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
}

#[derive(Subcommand)]
enum ClaimCommand {
    /// Computes the output natively, posts the claim with its bond, and
    /// defends it until it is final.
    Submit {
        /// The package.
        #[arg(long)]
        model: PathBuf,
        /// The input (.npy, .json or .png).
        #[arg(long)]
        input: PathBuf,
        /// Bond, in ether [default: the deployment's minimum].
        #[arg(long)]
        bond: Option<String>,
        /// Post and return without defending.
        #[arg(long)]
        no_defend: bool,
        #[command(flatten)]
        engine: EngineArgs,
    },
    /// A claim's record on-chain.
    Status {
        /// The claim id.
        id: u64,
    },
}

#[derive(Subcommand)]
enum GameCommand {
    /// A game's record on-chain.
    Status {
        /// The game id.
        id: u64,
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
        if let Some(path) = &self.keystore {
            let password = std::env::var("VERDICT_KEYSTORE_PASSWORD")
                .context("VERDICT_KEYSTORE_PASSWORD must hold the keystore's password")?;
            return PrivateKeySigner::decrypt_keystore(path, password)
                .with_context(|| format!("{}: cannot decrypt the keystore", path.display()));
        }
        let key = std::env::var("VERDICT_PRIVATE_KEY")
            .context("no key: set VERDICT_PRIVATE_KEY or give --keystore")?;
        key.trim()
            .parse::<PrivateKeySigner>()
            .context("VERDICT_PRIVATE_KEY is not a hex secp256k1 private key")
    }

    fn chain(&self) -> anyhow::Result<Chain> {
        Ok(Chain::connect(&self.rpc_url, self.signer()?)?)
    }

    fn deployment(&self) -> anyhow::Result<Deployment> {
        Deployment::load(&self.deployment)
            .context("run `verdict deploy` first, or give --deployment")
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let default = ["warn", "info", "debug", "trace"][usize::from(cli.global.verbose.min(3))];
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default)),
        )
        .with_writer(std::io::stderr)
        .init();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(cli)) {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::from(1),
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(2)
        }
    }
}

/// Parses an amount in ether ("1", "0.5") into wei.
fn parse_ether(text: &str) -> anyhow::Result<U256> {
    let (whole, frac) = text.split_once('.').unwrap_or((text, ""));
    if frac.len() > 18 || whole.is_empty() && frac.is_empty() {
        bail!("{text:?} is not an amount of ether");
    }
    let digits = format!("{whole}{frac:0<18}");
    U256::from_str_radix(&digits, 10).with_context(|| format!("{text:?} is not an amount of ether"))
}

fn print_json(value: &impl serde::Serialize) {
    println!(
        "{}",
        serde_json::to_string_pretty(value).expect("serialisable")
    );
}

async fn run(cli: Cli) -> anyhow::Result<bool> {
    let s = Settings::resolve(&cli.global)?;
    match cli.command {
        Command::Demo { models, external } => run_demo(&s, &models, external).await,
        Command::Devnet {
            port,
            chain_id,
            accounts,
        } => {
            let config = DevnetConfig {
                chain_id,
                accounts,
                addr: ([127, 0, 0, 1], port).into(),
                ..DevnetConfig::default()
            };
            devnet::run(config).await?;
            Ok(true)
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
                println!(
                    "VerdictVM     {}\nModelRegistry {}\nClaimManager  {}\nwritten to {}",
                    d.verifier,
                    d.registry,
                    d.manager,
                    s.deployment.display()
                );
            }
            Ok(true)
        }
        Command::Model {
            command: ModelCommand::Register { model },
        } => {
            let d = s.deployment()?;
            let info = ModelInfo::load(&model)?;
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
                println!(
                    "registered {} as model {id} ({} ops, {} steps, {} gas)",
                    model.display(),
                    info.ops(),
                    info.total_steps(),
                    sent.gas_used()
                );
            }
            Ok(true)
        }
        Command::Claim {
            command:
                ClaimCommand::Submit {
                    model,
                    input,
                    bond,
                    no_defend,
                    engine,
                },
        } => submit(&s, (&model, &engine), &input, bond.as_deref(), no_defend).await,
        Command::Claim {
            command: ClaimCommand::Status { id },
        } => {
            let d = s.deployment()?;
            let chain = Chain::connect(&s.rpc_url, PrivateKeySigner::random())?;
            let c = chain
                .view(
                    d.manager,
                    &ClaimManager::getClaimCall {
                        claimId: U256::from(id),
                    },
                )
                .await?;
            let status = ["None", "Pending", "Rejected", "Finalized"]
                .get(usize::from(c.status))
                .copied()
                .unwrap_or("?");
            let report = serde_json::json!({
                "claim_id": id, "status": status, "model_id": c.modelId, "submitter": c.submitter,
                "final_state_hash": c.finalStateHash, "challenge_deadline": c.challengeDeadline,
                "bond": c.bond.to_string(), "open_games": c.openGames, "output": c.output,
            });
            if s.json {
                print_json(&report);
            } else {
                println!(
                    "claim {id}: {status}, model {}, submitter {}, bond {} ETH, deadline {}, {} game(s) open",
                    c.modelId,
                    c.submitter,
                    fmt_eth(U256::from(c.bond)),
                    c.challengeDeadline,
                    c.openGames
                );
            }
            Ok(true)
        }
        Command::Game {
            command: GameCommand::Status { id },
        } => {
            let d = s.deployment()?;
            let chain = Chain::connect(&s.rpc_url, PrivateKeySigner::random())?;
            let g = chain
                .view(
                    d.manager,
                    &ClaimManager::getGameCall {
                        gameId: U256::from(id),
                    },
                )
                .await?;
            let status = ["None", "Open", "DefenderWon", "ChallengerWon", "Refunded"]
                .get(usize::from(g.status))
                .copied()
                .unwrap_or("?");
            let turn = if g.turn == 0 {
                "defender"
            } else {
                "challenger"
            };
            let report = serde_json::json!({
                "game_id": id, "status": status, "claim_id": g.claimId, "challenger": g.challenger,
                "level": g.level, "lo": g.lo, "hi": g.hi, "turn": turn,
                "defender_clock": g.defenderClock, "challenger_clock": g.challengerClock,
                "lo_hash": g.loHash, "hi_hash": g.hiHash,
            });
            if s.json {
                print_json(&report);
            } else {
                println!(
                    "game {id}: {status}, claim {}, level {} over [{}, {}], {turn} to move, clocks {} s / {} s",
                    g.claimId, g.level, g.lo, g.hi, g.defenderClock, g.challengerClock
                );
            }
            Ok(true)
        }
        Command::Watch {
            models,
            bond,
            engine,
        } => {
            let d = s.deployment()?;
            let infos = models
                .iter()
                .map(|m| {
                    let mut info =
                        ModelInfo::load(m).with_context(|| format!("loading {}", m.display()))?;
                    engine.prepare(&mut info)?;
                    Ok(Arc::new(info))
                })
                .collect::<anyhow::Result<Vec<_>>>()?;
            let bond = match bond {
                Some(b) => parse_ether(&b)?,
                None => d.min_challenge_bond,
            };
            let mut config = AgentConfig::new(s.data_dir.join("watch"), bond);
            config.watch = true;
            let agent = Agent::new(s.chain()?, d, config, infos)?;
            eprintln!("watching as {}; Ctrl-C stops", agent.chain().account());
            run_until_ctrl_c(agent, s.json, |_| false).await?;
            Ok(true)
        }
    }
}

/// Runs `agent` until Ctrl-C or until `done` says so, printing what it does.
async fn run_until_ctrl_c(
    agent: Agent,
    json: bool,
    done: impl Fn(&AgentState) -> bool + Send + 'static,
) -> anyhow::Result<Agent> {
    let (stop_tx, stop_rx) = watch::channel(false);
    let (tx, mut rx) = mpsc::unbounded_channel();
    let mut task = tokio::spawn(agent.run(stop_rx, Some(tx), done));
    let ctrl_c = tokio::signal::ctrl_c();
    tokio::pin!(ctrl_c);
    loop {
        tokio::select! {
            _ = &mut ctrl_c => {
                stop_tx.send(true)?;
            }
            a = rx.recv() => if let Some(a) = a {
                if json {
                    println!("{}", serde_json::json!({ "activity": format!("{a:?}") }));
                } else {
                    println!("{a:?}");
                }
            },
            agent = &mut task => return Ok(agent?),
        }
    }
}

async fn submit(
    s: &Settings,
    (model, engine): (&Path, &EngineArgs),
    input: &Path,
    bond: Option<&str>,
    no_defend: bool,
) -> anyhow::Result<bool> {
    let d = s.deployment()?;
    let mut info = ModelInfo::load(model)?;
    engine.prepare(&mut info)?;
    let info = Arc::new(info);
    let shape = info.compiled.model.tensors[info.compiled.model.input]
        .shape
        .clone();
    let values = verdict_converter::tensor_io::read_input(input, &shape)?;
    let bond = match bond {
        Some(b) => parse_ether(b)?,
        None => d.min_claim_bond,
    };
    let config = AgentConfig::new(s.data_dir.join("submit"), d.min_challenge_bond);
    let mut agent = Agent::new(s.chain()?, d, config, vec![info.clone()])?;
    let (claim_id, claim, _) = agent.submit(&info, &values, None, bond).await?;
    let report = serde_json::json!({ "claim_id": claim_id, "output": claim.output, "final_state_hash": claim.final_hash });
    if s.json {
        print_json(&report);
    } else {
        println!("claim {claim_id} posted: output {:?}", claim.output);
    }
    if no_defend {
        return Ok(true);
    }
    eprintln!("defending claim {claim_id} until it is final; Ctrl-C stops (a restart resumes)");
    let final_state = move |state: &AgentState| {
        state
            .claims
            .get(&claim_id)
            .is_some_and(|c| c.status != ClaimStatus::Pending)
    };
    let agent = run_until_ctrl_c(agent, s.json, final_state).await?;
    let status = agent.state().claims.get(&claim_id).map(|c| c.status);
    Ok(status == Some(ClaimStatus::Finalized))
}

async fn run_demo(s: &Settings, models: &Path, external: bool) -> anyhow::Result<bool> {
    let (model, inputs) = demo::bundled(models)?;
    let devnet = if external {
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
            println!("{line}");
        }
    };
    if !json {
        println!("verdict demo on {url}");
    }
    let report = demo::run(
        DemoConfig {
            rpc_url: url,
            keys,
            model,
            inputs,
            data_dir: data_dir.clone(),
            phase_timeout: Duration::from_secs(120),
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
            println!(
                "game {} on claim {}: {} moves, {} gas, won by {}",
                g.game_id, g.claim_id, g.moves, g.gas, g.winner
            );
        }
        for a in &report.accounts {
            println!(
                "{:32} {} balance change {} wei (fees {} wei)",
                a.name, a.address, a.balance_change, a.fees
            );
        }
        println!(
            "burned {} ETH",
            fmt_eth(report.burned.parse().unwrap_or_default())
        );
        for f in &report.failures {
            println!("FAILED: {f}");
        }
        println!(
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
