//! An example dapp: a contract that asks verdict to classify a handwritten
//! digit and keeps the verified class (`contracts/examples/DigitsConsumer.sol`),
//! served by a node. On an embedded devnet it deploys the protocol with a
//! 5-second challenge window, registers the bundled digits model, deploys
//! the consumer, runs a node, asks for a classification with a fee and
//! prints the class the consumer's callback stored.
//!
//! ```sh
//! cargo run -p verdict-challenger --example dapp
//! ```

use std::path::Path;
use std::time::{Duration, Instant};

use alloy_primitives::U256;
use alloy_sol_types::SolConstructor;
use anyhow::{Context, bail};
use tokio::sync::watch;
use verdict_challenger::agent::{Agent, AgentConfig, Serve};
use verdict_challenger::chain::Chain;
use verdict_challenger::demo::{self, ether, fmt_eth};
use verdict_challenger::deployment::Deployment;
use verdict_challenger::trace::Trace;
use verdict_contracts::protocol::Config;
use verdict_devnet::{Devnet, DevnetConfig};

alloy_sol_types::sol!(
    #[allow(missing_docs)]
    #[derive(Debug)]
    DigitsConsumer,
    "../contracts/out/DigitsConsumer.json"
);

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    // Blocks every second, so the 5-second window passes on its own.
    let devnet = Devnet::start(DevnetConfig {
        block_time: Some(Duration::from_secs(1)),
        ..DevnetConfig::default()
    })
    .await?;
    let account = |i: usize| -> anyhow::Result<Chain> {
        Ok(Chain::connect(
            &devnet.url(),
            devnet.accounts()[i].signer()?,
        )?)
    };
    let (owner, operator, app) = (account(0)?, account(1)?, account(2)?);

    let config = Config {
        challenge_window: 5,
        ..Config::default()
    };
    let deployment = Deployment::deploy(&owner, &config).await?;
    let models = Path::new(env!("CARGO_MANIFEST_DIR")).join("../models");
    let (model, inputs) = demo::bundled(&models)?;
    owner
        .send(deployment.registry, &model.register_call(), U256::ZERO)
        .await?;
    println!("model {} registered", model.model_id());

    let code = [
        DigitsConsumer::BYTECODE.to_vec(),
        DigitsConsumer::constructorCall {
            manager_: deployment.manager,
            modelId_: model.model_id(),
        }
        .abi_encode(),
    ]
    .concat();
    let consumer = app.deploy(code.into()).await?;
    println!("DigitsConsumer at {consumer}");

    // The node: a watchdog of the model that answers its requests.
    let data_dir = std::env::temp_dir().join(format!("verdict-dapp-{}", std::process::id()));
    let mut agent_config = AgentConfig::new(data_dir.clone(), deployment.min_challenge_bond);
    agent_config.watch = true;
    agent_config.serve = Some(Serve {
        min_fee: U256::ZERO,
        claim_bond: deployment.min_claim_bond,
    });
    let node = Agent::new(
        operator,
        deployment.clone(),
        agent_config,
        vec![model.clone()],
    )?;
    let (stop, stopped) = watch::channel(false);
    let running = tokio::spawn(node.run(stopped, None, |_| false));

    let fee = ether() / U256::from(100);
    let call = DigitsConsumer::classifyCall {
        input: model.encode_input(&inputs[0])?.into(),
    };
    let sent = app.send(consumer, &call, fee).await?;
    let request_id = sent
        .logs()
        .find_map(|l| {
            use alloy_sol_types::SolEvent;
            let e = verdict_contracts::bindings::ClaimManager::Requested::decode_log(l).ok()?;
            Some(e.data.requestId)
        })
        .context("no Requested event")?;
    println!(
        "the app asked for a classification: request {request_id}, fee {} ETH",
        fmt_eth(fee)
    );

    let started = Instant::now();
    let class = loop {
        let stored = app
            .view(
                consumer,
                &DigitsConsumer::classOfCall {
                    requestId: request_id,
                },
            )
            .await?;
        if stored > U256::ZERO {
            break stored.to::<usize>() - 1;
        }
        if started.elapsed() > Duration::from_secs(60) {
            bail!("the request was not fulfilled within a minute");
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    let output = Trace::new(model, &inputs[0])?.output();
    let native = (0..output.len())
        .max_by(|&a, &b| output[a].total_cmp(&output[b]))
        .expect("ten classes");
    println!(
        "verified class {class} stored by the callback after {:.1} s (the native run says {native})",
        started.elapsed().as_secs_f64()
    );
    stop.send(true)?;
    running.await??;
    devnet.stop().await;
    let _ = std::fs::remove_dir_all(data_dir);
    if class != native {
        bail!("the stored class is not the model's");
    }
    Ok(())
}
