//! Writes a seed corpus of valid frames and entry batches (`cargo run --bin make_seeds`), so the
//! fuzzers start from well-formed input and mutate from there.

use baobi_proto::wire::{
    encode, encode_frame, Batch, Body, CampaignEvent, CampaignKind, Correction, Date, EnrollReply,
    EnrollRequest, Hello, Hlc, Level, MarketSurvey, Msg, Op, OutletDef, OutletKind, Refusal,
    RefusalCode, RetailSurvey, Retraction, Round, Run, RunBatch, SummaryWire, UnitDef,
};
use baobi_proto::Keypair;

fn main() -> std::io::Result<()> {
    let k = Keypair::generate();
    let outlet = k.sign_entry(
        1,
        Hlc(1 << 40),
        Op::Record(Body::Outlet(OutletDef {
            kind: OutletKind::Market,
            name: "Chợ Tân Thành".into(),
            unit: "30226".into(),
            address: "ấp Tân Phú".into(),
            market_class: Some(3),
            certifications: vec![],
            opened: None,
            closed: None,
        })),
    );
    let survey = k.sign_entry(
        2,
        Hlc((1 << 40) + 1),
        Op::Record(Body::MarketSurvey(MarketSurvey {
            outlet: outlet.dot(),
            unit: "30226".into(),
            date: Date(20250312),
            year: 2025,
            round: Round::Baseline,
            vendors_total: 85,
            vendors_surveyed: 30,
            nonbio_g_per_day: 9_200,
            eco_g_per_day: Some(100),
            vendors_nonbio: 20,
            vendors_alternatives: None,
            operating_days: Some(30),
            reduction_model: false,
            notes: "ghi chú".into(),
        })),
    );
    let retail = k.sign_entry(
        3,
        Hlc((1 << 40) + 2),
        Op::Record(Body::RetailSurvey(RetailSurvey {
            outlet: outlet.dot(),
            kind: OutletKind::Supermarket,
            unit: "30226".into(),
            date: Date(20250312),
            year: 2025,
            gives_nonbio: true,
            bag_types: "túi ni lông".into(),
            nonbio_bags_per_day: Some(120),
            eco_bags_per_day: None,
            sells_reusable: Some(true),
            eco_labelled: None,
            notes: String::new(),
        })),
    );
    let campaign = k.sign_entry(
        4,
        Hlc((1 << 40) + 3),
        Op::Record(Body::Campaign(CampaignEvent {
            unit: "30226".into(),
            date: Date(20250310),
            kind: CampaignKind::Event,
            participants: Some(50),
            topic: "Ngày hội không túi ni lông".into(),
        })),
    );
    let fix = k.sign_entry(
        5,
        Hlc((1 << 40) + 4),
        Op::Correct(Correction {
            record: survey.dot(),
            supersedes: vec![[7; 32]],
            body: match &survey.op {
                Op::Record(b) => b.clone(),
                _ => unreachable!(),
            },
        }),
    );
    let retract = k.sign_entry(
        6,
        Hlc((1 << 40) + 5),
        Op::Retract(Retraction {
            record: campaign.dot(),
            supersedes: vec![[9; 32]],
            reason: "nhầm".into(),
        }),
    );
    let unit = k.sign_entry(
        7,
        Hlc((1 << 40) + 6),
        Op::Unit(UnitDef {
            code: "30226".into(),
            name: "Xã Tân Thành".into(),
            level: Level::Commune,
            kind: "Xã".into(),
            parent: Some("876".into()),
            valid_from: None,
            valid_to: Some(Date(20250630)),
        }),
    );
    let entries = vec![unit, outlet, survey, retail, campaign, fix, retract];
    let mut in_order = entries.clone();
    in_order.sort_by_key(|e| e.seq);
    let msgs = vec![
        Msg::Hello(Hello {
            version: baobi_proto::session::VERSION,
            digest: [1; 16],
        }),
        Msg::UpToDate,
        Msg::Summary(SummaryWire(vec![(k.author(), 7)])),
        Msg::Batch(Batch {
            id: 0,
            entries: entries.clone(),
        }),
        Msg::Runs(RunBatch {
            id: 1,
            runs: vec![
                Run::seal(&k, baobi_proto::chain::genesis(&k.author()), &in_order)
                    .expect("the seed log is contiguous from seq 1")
                    .0,
            ],
        }),
        Msg::Ack(3),
        Msg::Done,
        Msg::Refused(Refusal {
            code: RefusalCode::Busy,
            message: "bận / busy".into(),
        }),
        Msg::Enroll(EnrollRequest {
            secret: [3; 16],
            author: k.author(),
            label: "UBND xã".into(),
            proof: k.sign(b"proof"),
        }),
        Msg::Enrolled(EnrollReply {
            hub_author: k.author(),
            province: "87".into(),
            province_name: "Đồng Tháp".into(),
            unit: "30226".into(),
            unit_name: "Xã Tân Thành".into(),
        }),
    ];
    std::fs::create_dir_all("corpus/frame_decode")?;
    std::fs::create_dir_all("corpus/entry_verify")?;
    for (i, m) in msgs.iter().enumerate() {
        for chunk in [0u8, 1, 7] {
            let mut v = vec![chunk];
            v.extend(encode_frame(m));
            std::fs::write(format!("corpus/frame_decode/seed-{i}-{chunk}"), v)?;
        }
    }
    let mut all = vec![0u8];
    for m in &msgs {
        all.extend(encode_frame(m));
    }
    std::fs::write("corpus/frame_decode/seed-all", all)?;
    std::fs::write("corpus/entry_verify/seed-batch", encode(&entries))?;
    for (i, e) in entries.iter().enumerate() {
        std::fs::write(format!("corpus/entry_verify/seed-{i}"), encode(e))?;
    }
    Ok(())
}
