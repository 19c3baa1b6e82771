//! `snapkeep sim`: the embedded VPS.org simulator, standalone.

use crate::app::AppError;
use crate::cli::SimArgs;
use crate::sim::{SimOptions, Simulator};

pub(crate) async fn run(args: &SimArgs) -> Result<u8, AppError> {
    let options = SimOptions {
        listen: args.listen,
        token: args.token.clone(),
        complete_after: args.complete_after,
        seed_path: args.seed.clone(),
        fleet: args.fleet,
        error_rate: args.error_rate,
        error_status: args.error_status,
        rate_limit_rate: args.rate_limit_rate,
        retry_after: args.retry_after,
        latency: args.latency,
        lost_response_rate: args.lost_response_rate,
        malformed_rate: args.malformed_rate,
        page_size: args.page_size,
        stuck: args.stuck,
        fail_creates: args.fail_creates,
        fault_servers: args.fault_servers.clone(),
        endpoint: args.endpoint,
        rng_seed: args.rng_seed,
    };
    let listen = options.listen;
    let config = options
        .into_config()
        .map_err(|e| AppError::Usage(format!("snapkeep sim: {e}")))?;
    let sim = Simulator::start(listen, config)
        .await
        .map_err(|e| AppError::Runtime(format!("cannot start the simulator on {listen}: {e}")))?;
    println!("VPS.org simulator listening.");
    println!("  base_url = \"{}\"", sim.base_url());
    println!(
        "  token    = {}   (export VPS_API_TOKEN={})",
        sim.token(),
        sim.token()
    );
    println!(
        "  state    : GET http://{}/_sim/state   requests: GET http://{}/_sim/requests",
        sim.addr(),
        sim.addr()
    );
    println!(
        "Put base_url under [api] in your config, then run snapkeep against it. Ctrl-C stops."
    );
    let _ = tokio::signal::ctrl_c().await;
    sim.shutdown().await;
    Ok(0)
}
