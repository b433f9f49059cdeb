//! Helpers the hub's unit tests share: a Đồng Tháp hub in a temp folder and offices enrolled
//! straight into its store (no token, no TLS), so each test module does not build its own.

use baobi_proto::Keypair;

use crate::store::{AgentRec, Hub};

/// A fresh hub for Đồng Tháp (87) with the seed units, in `dir`.
pub fn hub(dir: &std::path::Path) -> Hub {
    let units = crate::units_csv::parse(crate::units_csv::SEED_UNITS).unwrap();
    Hub::init(dir, "87", "Đồng Tháp", units).unwrap()
}

/// Records `k` as an office of `unit` (labelled `label`) in `hub`'s store.
pub fn enroll_as(hub: &Hub, k: &Keypair, unit: &str, label: &str) -> AgentRec {
    let a = AgentRec {
        author: k.author(),
        cert_fp: [k.author().0[0]; 32],
        unit: unit.into(),
        label: label.into(),
        enrolled_at: 0,
        revoked: false,
        last_sync: None,
        entries_received: 0,
    };
    hub.put_agent(&a).unwrap();
    a
}

/// Records `k` as an office of `unit`, labelled with the unit code.
pub fn enroll(hub: &Hub, k: &Keypair, unit: &str) -> AgentRec {
    enroll_as(hub, k, unit, unit)
}

/// A standby of `primary` in `dir`, made as its first contact would make it (its own key and
/// certificate, the primary's welcome and pin); it has taken nothing yet.
pub fn standby_of(primary: &Hub, dir: &std::path::Path) -> Hub {
    let sk = Keypair::generate();
    let welcome = baobi_proto::standby::StandbyWelcome {
        hub_author: primary.keypair().author(),
        province: primary.province().into(),
        province_name: primary.province_name().into(),
        lineage_csv: primary.meta("lineage").unwrap().unwrap_or_default(),
    };
    let pin = baobi_proto::identity::PeerPin {
        addr: "127.0.0.1:1".into(),
        fingerprint: primary.fingerprint(),
    };
    let cert = crate::store::make_cert(&sk, "baobi-hub").unwrap();
    Hub::init_standby(dir, &sk, &cert, &welcome, &pin).unwrap()
}
