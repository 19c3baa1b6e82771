//! `snapkeep sim`: the embedded VPS.org simulator, standalone (with
//! `--account NAME=TOKEN`, more accounts, one world each).

use crate::error::AppError;
use snapkeep_sim::{SimOptions, Simulator};

pub(crate) async fn run(options: &SimOptions) -> Result<u8, AppError> {
    let listen = options.listen;
    let config = options.clone().into_config().map_err(|e| AppError::Input {
        what: "snapkeep sim".into(),
        source: e.into(),
    })?;
    let accounts = options.extra_accounts(&config.seed);
    let sim = Simulator::start_with_accounts(listen, config, accounts)
        .await
        .map_err(|e| AppError::io(format!("cannot start the simulator on {listen}"), e))?;
    println!("VPS.org simulator listening.");
    println!("  base_url = \"{}\"", sim.base_url());
    println!(
        "  token    = {}   (export VPS_API_TOKEN={})",
        sim.token(),
        sim.token()
    );
    for name in sim.account_names().iter().skip(1) {
        if let Some(account) = sim.account(name) {
            println!(
                "  account  = {name}, token {}   ([[account]] name = \"{name}\", token_env naming a variable that holds it)",
                account.token()
            );
        }
    }
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
