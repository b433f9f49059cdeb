//! What baobi's batches would weigh under other encodings, computed exactly on the entries the run
//! synced: today's frames; with the author written once per batch and one signature per batch (over
//! a hash chain of its entries, as DESIGN.md allows); and each of those deflated. Nothing here
//! changes the wire format: these figures are for the lead to decide on.

use baobi_proto::wire::{self, Batch, Entry, Hlc, Msg, Op};
use baobi_proto::{AuthorId, Sig};
use bincode::Encode;
use comfy_table::{presets::ASCII_MARKDOWN, Table};
use serde::Serialize;
use std::io::Write;

/// Entries per batch, as the agent sends them.
const BATCH: usize = 256;

/// A batch with the author factored out and one signature for the whole run.
#[derive(Encode)]
struct CompactBatch {
    id: u32,
    author: AuthorId,
    first_seq: u64,
    entries: Vec<(Hlc, Op)>,
    sig: Sig,
}

/// Batch bytes (frames, length prefixes included) of one set of entries under each encoding.
#[derive(Debug, Clone, Copy, Default, Serialize)]
pub struct Encodings {
    /// Entries.
    pub entries: usize,
    /// Σ bincode size of the records' bodies alone.
    pub bodies: u64,
    /// Today's `Msg::Batch` frames.
    pub today: u64,
    /// Author once per batch, one signature per batch.
    pub compact: u64,
    /// Today's frames, each body deflated.
    pub today_deflated: u64,
    /// Compact frames, each body deflated.
    pub compact_deflated: u64,
}

fn deflate(bytes: &[u8]) -> u64 {
    let mut z = flate2::write::DeflateEncoder::new(Vec::new(), flate2::Compression::default());
    let _ = z.write_all(bytes);
    z.finish().map_or(bytes.len() as u64, |v| v.len() as u64)
}

/// Computes the encodings of `entries` (one author's, in seq order) sent in batches of 256.
pub fn encodings(entries: &[Entry]) -> Encodings {
    let mut e = Encodings {
        entries: entries.len(),
        ..Encodings::default()
    };
    for (id, chunk) in entries.chunks(BATCH).enumerate() {
        for x in chunk {
            if let Op::Record(b) = &x.op {
                e.bodies += wire::encode(b).len() as u64;
            }
        }
        let today = wire::encode(&Msg::Batch(Batch {
            id: id as u32,
            entries: chunk.to_vec(),
        }));
        let Some(first) = chunk.first() else { continue };
        let compact = wire::encode(&(
            9u8, // the tag an appended `Msg` variant would take
            CompactBatch {
                id: id as u32,
                author: first.author,
                first_seq: first.seq,
                entries: chunk.iter().map(|x| (x.hlc, x.op.clone())).collect(),
                sig: first.sig,
            },
        ));
        e.today += 4 + today.len() as u64;
        e.compact += 4 + compact.len() as u64;
        e.today_deflated += 4 + deflate(&today);
        e.compact_deflated += 4 + deflate(&compact);
    }
    e
}

/// The what-if table for the initial and the few entries.
pub fn table(initial: &Encodings, few: &Encodings) -> String {
    let mut t = Table::new();
    t.load_preset(ASCII_MARKDOWN);
    t.set_header(vec![
        "entries",
        "bodies alone",
        "today",
        "author once + 1 signature per batch",
        "today, deflated",
        "both, deflated",
    ]);
    for e in [initial, few] {
        t.add_row(vec![
            e.entries.to_string(),
            format!("{} B", e.bodies),
            format!("{} B", e.today),
            format!("{} B", e.compact),
            format!("{} B", e.today_deflated),
            format!("{} B", e.compact_deflated),
        ]);
    }
    format!(
        "Nếu đổi định dạng / What-if: baobi's batch frames under other encodings (computed, not sent)\n{t}\n"
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use baobi_proto::Keypair;

    #[test]
    fn compact_batches_save_author_and_signatures() {
        let k = Keypair::generate();
        let bodies =
            crate::data::Generator::new(k.author(), 1, &crate::data::lai_vung(), 3).take(10);
        let entries: Vec<Entry> = bodies
            .into_iter()
            .zip(1u64..)
            .map(|(b, s)| k.sign_entry(s, Hlc(s), Op::Record(b)))
            .collect();
        let e = encodings(&entries);
        // Nine authors and nine signatures fewer, give or take a few varint bytes.
        let saved = e.today - e.compact;
        assert!(
            (9 * 96 - 20..=9 * 96 + 20).contains(&saved),
            "saved {saved}"
        );
        assert!(e.today > e.bodies && e.compact > e.bodies);
    }
}
