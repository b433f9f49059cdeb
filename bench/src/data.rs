//! The synthetic but realistic survey records every peer syncs: the same values for all of them.
//!
//! Sizes and ranges follow `DOMAIN.md`: markets of class 1-3 with their vendor counts and kilograms of
//! non-biodegradable bags per day, supermarkets, trade centres and convenience stores, campaign events,
//! Vietnamese names and notes of realistic length (most short, some long). A seed makes a run
//! repeatable; record `i` of an author is that author's entry `first_seq + i`, so surveys can name the
//! outlets registered before them by their dot, exactly as baobi's agent does.

use baobi_proto::wire::{
    Body, CampaignEvent, CampaignKind, CertKind, Certification, Date, Dot, MarketSurvey, OutletDef,
    OutletKind, RetailSurvey, Round,
};
use baobi_proto::AuthorId;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

/// Communes of Huyện Lai Vung (Đồng Tháp, code 876), the benchmark office's jurisdiction.
pub const LAI_VUNG_COMMUNES: &[&str] = &[
    "30208", "30211", "30214", "30217", "30220", "30223", "30226", "30229", "30232", "30235",
    "30238", "30241",
];

const MARKET_NAMES: &[&str] = &[
    "Chợ Tân Thành",
    "Chợ Lai Vung",
    "Chợ Hòa Long",
    "Chợ Long Hậu",
    "Chợ Cái Tàu Hạ",
    "Chợ Vĩnh Thới",
    "Chợ Định Hòa",
    "Chợ Phong Hòa",
    "Chợ nổi Tân Dương",
    "Chợ Long Thắng",
];
const RETAIL_NAMES: &[(&str, OutletKind)] = &[
    ("Siêu thị Co.opmart Sa Đéc", OutletKind::Supermarket),
    ("Siêu thị Lotte Mart", OutletKind::Supermarket),
    ("Trung tâm thương mại Vincom", OutletKind::TradeCentre),
    ("Bách hóa Xanh", OutletKind::Convenience),
    ("Cửa hàng tiện lợi Circle K", OutletKind::Convenience),
    ("Co.op Food", OutletKind::Convenience),
    ("Cửa hàng tiện lợi FamilyMart", OutletKind::Convenience),
];
const STREETS: &[&str] = &[
    "Quốc lộ 80",
    "Đường 3 Tháng 2",
    "Đường Nguyễn Huệ",
    "Ấp Tân Lộc",
    "Ấp Hòa Bình",
    "Đường Trần Hưng Đạo",
    "Tỉnh lộ 851",
];
/// Words field staff use in notes; notes are drawn word by word, so they compress like free text,
/// not like a handful of repeated phrases.
const NOTE_WORDS: &[&str] = &[
    "tiểu",
    "thương",
    "chợ",
    "túi",
    "ni",
    "lông",
    "khó",
    "phân",
    "hủy",
    "vải",
    "giấy",
    "sinh",
    "học",
    "lá",
    "chuối",
    "dây",
    "nhựa",
    "hộp",
    "xốp",
    "ly",
    "ống",
    "hút",
    "khách",
    "hàng",
    "người",
    "bán",
    "mua",
    "rau",
    "củ",
    "quả",
    "thịt",
    "cá",
    "tôm",
    "gạo",
    "trái",
    "cây",
    "hoa",
    "đồ",
    "khô",
    "tạp",
    "hóa",
    "ban",
    "quản",
    "lý",
    "băng",
    "rôn",
    "loa",
    "phát",
    "thanh",
    "tuyên",
    "truyền",
    "vận",
    "động",
    "hỗ",
    "trợ",
    "miễn",
    "phí",
    "giảm",
    "tăng",
    "nhiều",
    "ít",
    "một",
    "số",
    "đa",
    "phần",
    "vẫn",
    "còn",
    "đã",
    "chưa",
    "sẽ",
    "đang",
    "thói",
    "quen",
    "sử",
    "dụng",
    "thay",
    "thế",
    "thân",
    "thiện",
    "môi",
    "trường",
    "rác",
    "thải",
    "thu",
    "gom",
    "phân",
    "loại",
    "tại",
    "nguồn",
    "buổi",
    "sáng",
    "chiều",
    "đông",
    "vắng",
    "ngày",
    "tháng",
    "đợt",
    "trước",
    "sau",
    "so",
    "với",
    "năm",
    "ngoái",
    "đề",
    "nghị",
    "kiến",
    "xã",
    "huyện",
    "ủy",
    "ban",
    "nhân",
    "dân",
    "hội",
    "phụ",
    "nữ",
    "đoàn",
    "thanh",
    "niên",
    "mô",
    "hình",
    "điểm",
    "giá",
    "cao",
    "rẻ",
    "không",
    "có",
    "được",
    "cần",
    "thêm",
    "kinh",
    "phí",
    "khảo",
    "sát",
    "ghi",
    "nhận",
    "hợp",
    "tác",
    "tốt",
    "kém",
    "bình",
    "thường",
    "mùa",
    "mưa",
    "lễ",
    "tết",
    "cuối",
    "tuần",
    "sạp",
    "quầy",
    "lô",
    "ki",
    "ốt",
    "bến",
    "ghe",
    "xuồng",
    "nổi",
    "cân",
    "ký",
    "bao",
    "bì",
    "tái",
    "chế",
    "sử",
    "lại",
    "nhiều",
    "lần",
];

/// Realistic free text: empty a third of the time, else one to three sentences of 6-20 words.
fn notes(rng: &mut StdRng) -> String {
    if rng.gen_bool(0.35) {
        return String::new();
    }
    let sentences = rng.gen_range(1..=3);
    let mut out = String::new();
    for _ in 0..sentences {
        let words = rng.gen_range(6..=20);
        let mut sentence = String::new();
        for w in 0..words {
            let word = NOTE_WORDS[rng.gen_range(0..NOTE_WORDS.len())];
            if w == 0 {
                let mut cs = word.chars();
                if let Some(c) = cs.next() {
                    sentence.extend(c.to_uppercase());
                    sentence.push_str(cs.as_str());
                }
            } else {
                sentence.push(' ');
                sentence.push_str(word);
            }
        }
        if rng.gen_bool(0.2) {
            sentence.push_str(&format!(" {} hộ", rng.gen_range(2..80)));
        }
        sentence.push('.');
        if !out.is_empty() {
            out.push(' ');
        }
        out.push_str(&sentence);
    }
    out
}

const BAG_TYPES: &[&str] = &[
    "túi giấy, túi vải",
    "túi sinh học phân hủy",
    "túi ni lông, túi giấy",
    "thùng giấy, túi vải không dệt",
    "",
];
const TOPICS: &[&str] = &[
    "Nói không với túi ni lông",
    "Chợ văn minh, giảm rác thải nhựa",
    "Phân loại rác tại nguồn",
    "Tiêu dùng bền vững trong trường học",
    "Hưởng ứng Tháng hành động vì môi trường",
];

/// A date in 2021-2024 (before the 2025 reform, when the district units are in force).
fn date(rng: &mut StdRng) -> Date {
    let y = rng.gen_range(2021..=2024);
    let m = rng.gen_range(1..=12u32);
    let d = rng.gen_range(1..=28u32);
    Date(y * 10000 + m * 100 + d)
}

/// An outlet already generated: its dot, kind and commune.
#[derive(Debug, Clone)]
struct Known {
    dot: Dot,
    kind: OutletKind,
    unit: String,
}

/// Generates record bodies for one office's log.
#[derive(Debug)]
pub struct Generator {
    author: AuthorId,
    communes: Vec<String>,
    rng: StdRng,
    outlets: Vec<Known>,
    next_seq: u64,
}

impl Generator {
    /// A generator for `author`, whose next entry is `first_seq`, recording in `communes`.
    pub fn new(author: AuthorId, first_seq: u64, communes: &[String], seed: u64) -> Generator {
        Generator {
            author,
            communes: communes.to_vec(),
            rng: StdRng::seed_from_u64(seed),
            outlets: vec![],
            next_seq: first_seq,
        }
    }

    /// The next `n` records (about one outlet for every 25 records, registered before its surveys).
    pub fn take(&mut self, n: usize) -> Vec<Body> {
        (0..n).map(|_| self.next_body()).collect()
    }

    fn next_body(&mut self) -> Body {
        let seq = self.next_seq;
        self.next_seq += 1;
        let roll: f64 = self.rng.gen();
        let body = if self.outlets.is_empty() || roll < 0.04 {
            self.outlet()
        } else if roll < 0.10 {
            self.campaign()
        } else {
            let o = self.outlets[self.rng.gen_range(0..self.outlets.len())].clone();
            if o.kind == OutletKind::Market {
                self.market(&o)
            } else {
                self.retail(&o)
            }
        };
        if let Body::Outlet(o) = &body {
            self.outlets.push(Known {
                dot: Dot {
                    author: self.author,
                    seq,
                },
                kind: o.kind,
                unit: o.unit.clone(),
            });
        }
        body
    }

    fn commune(&mut self) -> String {
        self.communes[self.rng.gen_range(0..self.communes.len())].clone()
    }

    fn outlet(&mut self) -> Body {
        let unit = self.commune();
        let rng = &mut self.rng;
        let market = rng.gen_bool(0.6);
        let street = STREETS[rng.gen_range(0..STREETS.len())];
        let address = format!("Số {} {street}", rng.gen_range(1..400));
        if market {
            let class = *[1u8, 2, 3, 3, 3].get(rng.gen_range(0..5)).unwrap_or(&3);
            let mut certifications = vec![];
            if rng.gen_bool(0.4) {
                certifications.push(Certification {
                    kind: CertKind::Civilized,
                    from: date(rng),
                    to: None,
                });
            }
            if rng.gen_bool(0.3) {
                certifications.push(Certification {
                    kind: CertKind::NewRural,
                    from: date(rng),
                    to: None,
                });
            }
            Body::Outlet(OutletDef {
                kind: OutletKind::Market,
                name: MARKET_NAMES[rng.gen_range(0..MARKET_NAMES.len())].to_string(),
                unit,
                address,
                market_class: Some(class),
                certifications,
                opened: None,
                closed: None,
            })
        } else {
            let (name, kind) = RETAIL_NAMES[rng.gen_range(0..RETAIL_NAMES.len())];
            Body::Outlet(OutletDef {
                kind,
                name: name.to_string(),
                unit,
                address,
                market_class: None,
                certifications: vec![],
                opened: None,
                closed: None,
            })
        }
    }

    fn market(&mut self, o: &Known) -> Body {
        let rng = &mut self.rng;
        let d = date(rng);
        // Class 3 markets have under 200 business points, class 2 200-400, class 1 more.
        let vendors_total = rng.gen_range(30..=450u32);
        let vendors_surveyed = rng.gen_range(10..=vendors_total.min(120));
        let vendors_nonbio = rng.gen_range(0..=vendors_surveyed);
        // Up to about 0.4 kg per surveyed vendor per day, in grams.
        let nonbio_g_per_day = rng.gen_range(0..=vendors_surveyed * 400);
        Body::MarketSurvey(MarketSurvey {
            outlet: o.dot,
            unit: o.unit.clone(),
            date: d,
            year: d.year(),
            round: match rng.gen_range(0..10) {
                0 => Round::Baseline,
                1 => Round::FollowUp,
                _ => Round::Annual,
            },
            vendors_total,
            vendors_surveyed,
            nonbio_g_per_day,
            eco_g_per_day: rng
                .gen_bool(0.5)
                .then(|| rng.gen_range(0..=vendors_surveyed * 100)),
            vendors_nonbio,
            vendors_alternatives: rng
                .gen_bool(0.5)
                .then(|| rng.gen_range(0..=vendors_surveyed - vendors_nonbio)),
            operating_days: rng.gen_bool(0.7).then(|| rng.gen_range(20..=30)),
            reduction_model: rng.gen_bool(0.2),
            notes: notes(rng),
        })
    }

    fn retail(&mut self, o: &Known) -> Body {
        let rng = &mut self.rng;
        let d = date(rng);
        let gives_nonbio = rng.gen_bool(0.4);
        Body::RetailSurvey(RetailSurvey {
            outlet: o.dot,
            kind: o.kind,
            unit: o.unit.clone(),
            date: d,
            year: d.year(),
            gives_nonbio,
            bag_types: BAG_TYPES[rng.gen_range(0..BAG_TYPES.len())].to_string(),
            nonbio_bags_per_day: if gives_nonbio {
                Some(rng.gen_range(20..=2000))
            } else {
                rng.gen_bool(0.5).then_some(0)
            },
            eco_bags_per_day: rng.gen_bool(0.6).then(|| rng.gen_range(0..=800)),
            sells_reusable: rng.gen_bool(0.7).then(|| rng.gen_bool(0.6)),
            eco_labelled: rng.gen_bool(0.5).then(|| rng.gen_bool(0.5)),
            notes: notes(rng),
        })
    }

    fn campaign(&mut self) -> Body {
        let unit = self.commune();
        let rng = &mut self.rng;
        Body::Campaign(CampaignEvent {
            unit,
            date: date(rng),
            kind: match rng.gen_range(0..5) {
                0 => CampaignKind::Training,
                1 => CampaignKind::Media,
                2 => CampaignKind::Event,
                3 => CampaignKind::Materials,
                _ => CampaignKind::Other,
            },
            participants: rng.gen_bool(0.8).then(|| rng.gen_range(15..=600)),
            topic: TOPICS[rng.gen_range(0..TOPICS.len())].to_string(),
        })
    }
}

/// Lai Vung's communes as owned strings.
pub fn lai_vung() -> Vec<String> {
    LAI_VUNG_COMMUNES.iter().map(|s| s.to_string()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_records_pass_validation_and_reference_earlier_outlets() {
        let author = AuthorId([7; 32]);
        let mut g = Generator::new(author, 1, &lai_vung(), 1);
        let bodies = g.take(2000);
        let mut outlets = std::collections::BTreeSet::new();
        for (i, b) in bodies.iter().enumerate() {
            baobi_proto::validate::body(b, None).expect("valid body");
            match b {
                Body::Outlet(_) => {
                    outlets.insert(i as u64 + 1);
                }
                Body::MarketSurvey(s) => assert!(outlets.contains(&s.outlet.seq)),
                Body::RetailSurvey(s) => assert!(outlets.contains(&s.outlet.seq)),
                Body::Campaign(_) => {}
            }
        }
        assert!(outlets.len() > 40 && outlets.len() < 160);
        let again = Generator::new(author, 1, &lai_vung(), 1).take(2000);
        assert_eq!(again, bodies);
    }
}
