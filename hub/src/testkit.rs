//! Helpers the hub's unit tests share: a Đồng Tháp hub in a temp folder and offices enrolled
//! straight into its store (no token, no TLS), so each test module does not build its own.

use baobi_proto::wire::{
    Body, Correction, Date, Hlc, MarketSurvey, Op, OutletDef, OutletKind, RetailSurvey, Round,
};
use baobi_proto::Keypair;

use crate::check::merge_entries;
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

/// Surveys of three outlets of one office (two markets, a supermarket) in three years, one of them
/// corrected, merged into `h` in batches of ten.
pub fn surveyed(h: &Hub) {
    let k = Keypair::generate();
    let a = enroll(h, &k, "30226");
    let mut es = vec![];
    let mut seq = 0;
    let mut next = |op| {
        seq += 1;
        k.sign_entry(seq, Hlc(seq << 16), op)
    };
    for o in 0..3u32 {
        let market = o % 2 == 0;
        let outlet = next(Op::Record(Body::Outlet(OutletDef {
            kind: if market {
                OutletKind::Market
            } else {
                OutletKind::Supermarket
            },
            name: format!("Điểm {o}"),
            unit: "30226".into(),
            address: String::new(),
            market_class: market.then_some(3),
            certifications: vec![],
            opened: None,
            closed: None,
        })));
        let id = outlet.dot();
        es.push(outlet);
        for s in 0..12u32 {
            let year = 2023 + (s % 3) as u16;
            let date = Date(u32::from(year) * 10_000 + 101 + s % 28);
            es.push(next(Op::Record(if market {
                Body::MarketSurvey(MarketSurvey {
                    outlet: id,
                    unit: "30226".into(),
                    date,
                    year,
                    round: Round::Annual,
                    vendors_total: 100,
                    vendors_surveyed: 30,
                    nonbio_g_per_day: 100 + s,
                    eco_g_per_day: None,
                    vendors_nonbio: 20,
                    vendors_alternatives: None,
                    operating_days: None,
                    reduction_model: false,
                    notes: String::new(),
                })
            } else {
                Body::RetailSurvey(RetailSurvey {
                    outlet: id,
                    kind: OutletKind::Supermarket,
                    unit: "30226".into(),
                    date,
                    year,
                    gives_nonbio: s % 2 == 0,
                    bag_types: "túi giấy".into(),
                    nonbio_bags_per_day: Some(if s % 2 == 0 { s } else { 0 }),
                    eco_bags_per_day: Some(40),
                    sells_reusable: None,
                    eco_labelled: None,
                    notes: String::new(),
                })
            })));
        }
    }
    for r in es.chunks(10) {
        merge_entries(h, &a, &k, r).unwrap().unwrap();
    }
    // A correction: the standing version is not the record's own.
    let first_survey = es[1].dot();
    let rec = h.record(&first_survey).unwrap().unwrap();
    let Body::MarketSurvey(mut s) = rec.original().unwrap().clone() else {
        panic!("a market survey");
    };
    s.nonbio_g_per_day = 7;
    let fix = next(Op::Correct(Correction {
        record: first_survey,
        supersedes: vec![rec.winner().unwrap().hash],
        body: Body::MarketSurvey(s),
    }));
    merge_entries(h, &a, &k, &[fix]).unwrap().unwrap();
}

/// Every key and value of `h`'s tree.
pub fn all(h: &Hub) -> Vec<(Vec<u8>, Vec<u8>)> {
    h.tree()
        .iter()
        .map(|kv| kv.map(|(k, v)| (k.to_vec(), v.to_vec())).unwrap())
        .collect()
}

/// A store whose keys under `prefix` (`keys` of them after [`surveyed`]) are of an older layout
/// (`older` writes each key and value's older form into a batch), without meta `meta`, part of it
/// converted again by `crash` (a crash between batches), is converted at open: the same store, key
/// for key, and `verify` clean, also when opened again.
pub fn converted_at_open(
    prefix: &[u8],
    meta: &str,
    keys: usize,
    older: impl Fn(&[u8], &[u8], &mut sled::Batch),
    crash: impl Fn(&sled::Tree),
) {
    let tmp = tempfile::tempdir().unwrap();
    let before = {
        let h = hub(tmp.path());
        surveyed(&h);
        let before = all(&h);
        let t = h.tree();
        let mut b = sled::Batch::default();
        let mut n = 0;
        for kv in t.scan_prefix(prefix) {
            let (k, v) = kv.unwrap();
            older(&k, &v, &mut b);
            n += 1;
        }
        assert_eq!(n, keys);
        b.remove(crate::store::keys::meta(meta));
        t.apply_batch(b).unwrap();
        h.flush().unwrap();
        assert_ne!(all(&h), before, "the older layout differs");
        before
    };
    {
        let db = crate::store::open_db(tmp.path()).unwrap();
        crash(&db);
        db.flush().unwrap();
    }
    let h = Hub::open(tmp.path()).unwrap();
    assert_eq!(all(&h), before, "the same store, key for key");
    assert!(crate::verify::run(&h, &mut |_| {}).unwrap().ok);
    drop(h);
    let h = Hub::open(tmp.path()).unwrap();
    assert_eq!(all(&h), before, "reopened");
}

/// The first key under `prefix` in `db` rewritten as `newer` of its key and value.
pub fn rewrite_first(db: &sled::Tree, prefix: &[u8], newer: impl Fn(&[u8], &[u8]) -> Vec<u8>) {
    let (k, v) = db.scan_prefix(prefix).next().unwrap().unwrap();
    db.insert(&k, newer(&k, &v)).unwrap();
}
