//! Sync over simulated mobile links: a backlog syncs completely on 4G, 3G, EDGE and GPRS; a partition
//! mid-sync heals without resending what the hub acknowledged; an address change mid-sync completes.

use std::time::Instant;

use baobi_netsim::Profile;
use baobi_tests::{market_rows, Hub, Link};

#[test]
fn probe() {
    let hub = Hub::start();
    let link = Link::start(hub.addr.unwrap(), Profile::loopback(), 1);
    let agent = hub.enroll_agent_at("30226", link.addr());
    let outlets: Vec<String> = (0..8)
        .map(|i| agent.outlet("market", &format!("Chợ {i}"), "30226", &[]))
        .collect();
    agent.sync();
    let t = Instant::now();
    let ids = agent.import(&market_rows(&outlets, 2000, 1));
    eprintln!("import {} in {:?}", ids.len(), t.elapsed());
    link.proxy().reset_stats();
    let t = Instant::now();
    let r = agent.sync();
    eprintln!(
        "sync {r} in {:?} stats {:?}",
        t.elapsed(),
        link.proxy().stats()
    );
}
