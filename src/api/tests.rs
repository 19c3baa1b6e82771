//! The client against the embedded simulator: listing every page (pages
//! after the first fetched concurrently), filtering page by page.

use std::sync::Arc;
use std::time::Duration;

use super::*;
use crate::sim::{FaultSpec, Faults, Seed, SimConfig, SimStatus, Simulator};

/// Long enough that pages fetched one after another could not overlap.
const LATENCY: Duration = Duration::from_millis(200);

async fn sim_with(snapshots: u64, page_size: usize) -> Simulator {
    let seed = (0..snapshots).fold(Seed::fleet(4), |seed, i| {
        seed.snapshot(
            i % 4 + 1,
            format!("s{i}"),
            Duration::from_secs(60 * (i + 1)),
            SimStatus::Completed,
        )
    });
    Simulator::start(
        "127.0.0.1:0".parse().unwrap(),
        SimConfig {
            seed,
            faults: Faults::none()
                .with_page_size(page_size)
                .with_global(FaultSpec::none().with_latency(LATENCY)),
            ..SimConfig::default()
        },
    )
    .await
    .unwrap()
}

fn client(sim: &Simulator, max_concurrency: usize) -> Client {
    let mut settings = ClientSettings::new(sim.base_url(), ApiToken::new(sim.token()));
    settings.requests_per_second = 0.0;
    settings.max_concurrency = max_concurrency;
    Client::new(settings).unwrap()
}

#[tokio::test]
async fn lists_every_page_once_fetching_the_rest_concurrently() {
    let sim = sim_with(23, 3).await;
    let mut ids: Vec<u64> = client(&sim, 8)
        .list_snapshots(None)
        .await
        .unwrap()
        .iter()
        .map(|s| s.id)
        .collect();
    ids.sort();
    let want: Vec<u64> = sim.snapshots(None).iter().map(|s| s.id).collect();
    assert_eq!(ids, want);
    let requests = sim.requests();
    let pages: Vec<String> = requests.iter().map(|r| r.query.clone()).collect();
    assert_eq!(pages.len(), 8, "{pages:?}");
    assert_eq!(pages.iter().filter(|q| q.is_empty()).count(), 1);
    for n in 2..=8 {
        assert!(pages.contains(&format!("page={n}")), "{pages:?}");
    }
    // Pages 2..8 all arrived while the first of them was still being
    // answered; one after another they would be LATENCY apart.
    let arrivals: Vec<_> = requests
        .iter()
        .filter(|r| !r.query.is_empty())
        .map(|r| r.at)
        .collect();
    let spread = *arrivals.iter().max().unwrap() - *arrivals.iter().min().unwrap();
    assert!(spread.to_std().unwrap() < LATENCY, "{spread:?}");
}

#[tokio::test]
async fn a_filter_keeps_what_it_accepts_from_every_page() {
    let sim = sim_with(20, 3).await;
    let keep: Keep<Snapshot> = Some(Arc::new(|s: &Snapshot| s.server.id == 2));
    let got = client(&sim, 4)
        .list_snapshots_where(None, keep)
        .await
        .unwrap();
    assert_eq!(got.len(), 5);
    assert!(got.iter().all(|s| s.server.id == 2));
}

#[tokio::test]
async fn one_page_and_filtered_lists_stay_single_requests() {
    let sim = sim_with(6, 50).await;
    let c = client(&sim, 4);
    assert_eq!(c.list_snapshots(None).await.unwrap().len(), 6);
    assert_eq!(c.list_snapshots(Some(3)).await.unwrap().len(), 1);
    let queries: Vec<String> = sim.requests().iter().map(|r| r.query.clone()).collect();
    assert_eq!(queries, ["", "server_id=3"]);
}
