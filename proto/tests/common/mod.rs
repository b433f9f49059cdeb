//! Shared helpers for proto's tests: an in-memory replica and a generator of realistic entries.
//!
//! The replica is the smallest honest thing that can run a sync session: a map of entries by dot,
//! their chain links and the head signatures received (to forward sealed runs, as the hub does), the
//! summary derived from it, and a `MemTables` view fed by `view::apply`.

#![allow(dead_code)]

use std::collections::BTreeMap;

use baobi_proto::chain::{self, Link};
use baobi_proto::view::{self, MemTables};
use baobi_proto::wire::{
    Body, CampaignEvent, CampaignKind, Correction, Date, Decision, Dot, Entry, Hlc, IndicatorId,
    MarketSurvey, Op, OutletDef, OutletKind, PlanDef, RetailSurvey, Retraction, ReviewDecision,
    Round, Run, Target,
};
use baobi_proto::{AuthorId, Keypair, Sig, Summary};
use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand::Rng;

/// An in-memory replica: entries by (author, seq) and the view they make.
#[derive(Default, Clone)]
pub struct Replica {
    pub entries: BTreeMap<(AuthorId, u64), Entry>,
    pub links: BTreeMap<(AuthorId, u64), Link>,
    pub heads: BTreeMap<(AuthorId, u64), Sig>,
    pub view: MemTables,
}

impl Replica {
    /// Inserts an entry written here (its link follows from the previous one, which must be held).
    pub fn insert(&mut self, e: &Entry) {
        let prev = self.link(e.author, e.seq - 1).expect("previous entry held");
        self.insert_linked(e, chain::link_of(&prev, e));
    }

    fn insert_linked(&mut self, e: &Entry, link: Link) {
        if self.entries.insert((e.author, e.seq), e.clone()).is_none() {
            self.links.insert((e.author, e.seq), link);
            view::apply(&mut self.view, e);
        }
    }

    /// Opens a received run and keeps its entries and its head; false when its seal does not verify.
    pub fn receive(&mut self, run: &Run) -> bool {
        let Some(opened) = run.open() else {
            return false;
        };
        for (e, link) in &opened {
            self.insert_linked(e, *link);
        }
        self.heads.insert((run.author, run.last()), run.head);
        true
    }

    pub fn link(&self, author: AuthorId, seq: u64) -> Option<Link> {
        if seq == 0 {
            return Some(chain::genesis(&author));
        }
        self.links.get(&(author, seq)).copied()
    }

    /// A sealed run of `author` from `from`, at most `room` entries up to `to`: sealed afresh with
    /// `key` when it is the author's, else ending at the last head received within reach.
    pub fn run(
        &self,
        author: AuthorId,
        from: u64,
        to: u64,
        room: u64,
        key: Option<&Keypair>,
    ) -> Option<Run> {
        let end = to.min(from + room - 1);
        let prev = self.link(author, from - 1)?;
        match key.filter(|k| k.author() == author) {
            Some(k) => Run::seal(k, prev, &self.range(author, from, end)).map(|(r, _)| r),
            None => {
                let (&(_, h), sig) = self
                    .heads
                    .range((author, from)..=(author, end))
                    .next_back()?;
                Run::with_head(author, prev, &self.range(author, from, h), *sig)
            }
        }
    }

    /// Highest contiguous seq per author.
    pub fn summary(&self) -> Summary {
        let mut s = Summary::new();
        let mut cur: Option<(AuthorId, u64)> = None;
        for &(a, seq) in self.entries.keys() {
            match cur {
                Some((ca, cs)) if ca == a => {
                    if seq == cs + 1 {
                        cur = Some((a, seq));
                    }
                }
                _ => {
                    if let Some((ca, cs)) = cur {
                        s.set(ca, cs);
                    }
                    cur = (seq == 1).then_some((a, seq)).or(Some((a, 0)));
                }
            }
        }
        if let Some((ca, cs)) = cur {
            s.set(ca, cs);
        }
        s
    }

    pub fn range(&self, author: AuthorId, from: u64, to: u64) -> Vec<Entry> {
        self.entries
            .range((author, from)..=(author, to))
            .map(|(_, e)| e.clone())
            .collect()
    }
}

/// An author writing into its own replica.
pub struct Writer {
    pub key: Keypair,
    pub seq: u64,
    pub hlc: Hlc,
    pub replica: Replica,
}

pub const COMMUNES: [&str; 3] = ["30208", "30226", "30211"];

impl Writer {
    pub fn new() -> Self {
        Writer {
            key: Keypair::generate(),
            seq: 0,
            hlc: Hlc(0),
            replica: Replica::default(),
        }
    }

    pub fn author(&self) -> AuthorId {
        self.key.author()
    }

    pub fn write(&mut self, op: Op, now_ms: u64) -> Entry {
        self.seq += 1;
        self.hlc = Hlc::tick(self.hlc, now_ms);
        let e = self.key.sign_entry(self.seq, self.hlc, op);
        self.replica.insert(&e);
        e
    }

    /// One random but well-formed operation based on what this writer currently sees.
    pub fn random_op(&self, rng: &mut StdRng) -> Op {
        let v = &self.replica.view;
        let outlets: Vec<(Dot, OutletKind, String)> = v
            .records
            .values()
            .filter_map(|r| match r.original() {
                Some(Body::Outlet(o)) => Some((r.id, o.kind, o.unit.clone())),
                _ => None,
            })
            .collect();
        let surveys: Vec<Dot> = v
            .records
            .values()
            .filter(|r| {
                matches!(
                    r.original(),
                    Some(Body::MarketSurvey(_) | Body::RetailSurvey(_))
                )
            })
            .map(|r| r.id)
            .collect();
        let roll = rng.gen_range(0..100);
        if outlets.is_empty() || roll < 12 {
            let kind = *[
                OutletKind::Market,
                OutletKind::Supermarket,
                OutletKind::TradeCentre,
                OutletKind::Convenience,
            ]
            .choose(rng)
            .unwrap();
            return Op::Record(Body::Outlet(OutletDef {
                kind,
                name: format!("Cơ sở {}", rng.gen_range(1..1000)),
                unit: COMMUNES.choose(rng).unwrap().to_string(),
                address: String::new(),
                market_class: (kind == OutletKind::Market).then_some(2),
                certifications: vec![],
                opened: None,
                closed: None,
            }));
        }
        if roll < 20 {
            return Op::Record(Body::Campaign(CampaignEvent {
                unit: COMMUNES.choose(rng).unwrap().to_string(),
                date: Date(20250301),
                kind: CampaignKind::Event,
                participants: Some(rng.gen_range(10..200)),
                topic: "Nói không với túi ni lông".into(),
            }));
        }
        if !surveys.is_empty() && roll < 26 {
            // A review decision on one of the record's heads (the hub's role; the view does not care
            // who writes it, only the checks at hub and agent do).
            let id = *surveys.choose(rng).unwrap();
            let heads = v.records[&id].heads();
            let version = heads.choose(rng).unwrap().hash;
            let returned = rng.gen_bool(0.5);
            return Op::Review(ReviewDecision {
                record: id,
                version,
                decision: if returned {
                    Decision::Returned
                } else {
                    Decision::Verified
                },
                reason: if returned {
                    "sai số".into()
                } else {
                    String::new()
                },
            });
        }
        if roll == 26 {
            return Op::Plan(PlanDef {
                id: "p".into(),
                name: "Kế hoạch".into(),
                name_en: String::new(),
                province: "87".into(),
                period: (2021, 2030),
                deadline: Some((12, rng.gen_range(1..=28))),
                source: String::new(),
                targets: vec![Target {
                    indicator: IndicatorId::I1,
                    year: 2025,
                    threshold_bp: rng.gen_range(0..=10_000),
                }],
                notes: vec![],
            });
        }
        if !surveys.is_empty() && roll < 45 {
            let id = *surveys.choose(rng).unwrap();
            let rec = &v.records[&id];
            let heads = rec.heads();
            // Supersede all heads, or just one of them (leaving a conflict in place).
            let supersedes: Vec<[u8; 32]> = if rng.gen_bool(0.7) {
                heads.iter().map(|h| h.hash).collect()
            } else {
                heads.iter().take(1).map(|h| h.hash).collect()
            };
            if rng.gen_bool(0.2) {
                return Op::Retract(Retraction {
                    record: id,
                    supersedes,
                    reason: "nhập trùng".into(),
                });
            }
            let body = rec.original().cloned().unwrap();
            return Op::Correct(Correction {
                record: id,
                supersedes,
                body: mutate(body, rng),
            });
        }
        let (outlet, kind, unit) = outlets.choose(rng).unwrap().clone();
        let day = rng.gen_range(1..=28);
        let year = *[2024u16, 2025].choose(rng).unwrap();
        let date = Date(u32::from(year) * 10000 + 300 + day);
        Op::Record(if kind == OutletKind::Market {
            Body::MarketSurvey(market(outlet, &unit, date, rng))
        } else {
            Body::RetailSurvey(RetailSurvey {
                outlet,
                kind,
                unit,
                date,
                year,
                gives_nonbio: rng.gen_bool(0.5),
                bag_types: "túi giấy".into(),
                nonbio_bags_per_day: Some(rng.gen_range(0..500)),
                eco_bags_per_day: None,
                sells_reusable: Some(true),
                eco_labelled: None,
                notes: String::new(),
            })
        })
    }
}

pub fn market(outlet: Dot, unit: &str, date: Date, rng: &mut StdRng) -> MarketSurvey {
    MarketSurvey {
        outlet,
        unit: unit.into(),
        date,
        year: date.year(),
        round: if rng.gen_bool(0.3) {
            Round::Baseline
        } else {
            Round::Annual
        },
        vendors_total: 200,
        vendors_surveyed: 60,
        nonbio_g_per_day: rng.gen_range(0..30_000),
        eco_g_per_day: None,
        vendors_nonbio: 40,
        vendors_alternatives: Some(10),
        operating_days: Some(30),
        reduction_model: false,
        notes: String::new(),
    }
}

fn mutate(body: Body, rng: &mut StdRng) -> Body {
    match body {
        Body::MarketSurvey(mut s) => {
            s.nonbio_g_per_day = rng.gen_range(0..30_000);
            if rng.gen_bool(0.2) {
                s.date = Date(s.date.0 + 1);
            }
            if rng.gen_bool(0.1) {
                // The reporting year corrected: the survey moves to another outlet-year.
                s.year = if s.year == 2025 { 2024 } else { 2025 };
            }
            Body::MarketSurvey(s)
        }
        Body::RetailSurvey(mut s) => {
            s.gives_nonbio = !s.gives_nonbio;
            s.nonbio_bags_per_day = Some(rng.gen_range(0..500));
            Body::RetailSurvey(s)
        }
        other => other,
    }
}
