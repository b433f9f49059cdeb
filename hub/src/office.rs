//! Each office's jurisdiction at the hub: the unit versions it holds and their predecessors through
//! the lineage (`proto::office`), as one signed hub entry (`Op::Office`) that the office receives at
//! its next sync, indexed under the `j` prefix for the hub's own checks.
//!
//! Written when an office enrolls (the version its token names), when it is restored (the lost
//! office's), and by `baobi-hub agents move` (successor units, kept beside the enrolled unit so the
//! office keeps that unit's past). An office enrolled before this existed gets its entry at its
//! next sync.

use std::collections::BTreeSet;

use baobi_proto::office::{past_units, unit_ref};
use baobi_proto::wire::{self, Level, OfficeUnits, Op, Run, UnitRef};
use baobi_proto::AuthorId;

use crate::store::{keys, AgentRec, Hub};
use crate::{Error, Result};

/// The code and version an `AgentRec.unit` or token names (`CODE` or `CODE@valid_from`).
fn spec_ref(hub: &Hub, spec: &str) -> Result<UnitRef> {
    hub.with_units(|u| {
        u.pick_version(spec, crate::indicators::today())
            .map(unit_ref)
            .map_err(|e| Error::Invalid(e.to_string()))
    })
}

/// The jurisdiction of `agent` in force at the hub.
pub fn office(hub: &Hub, agent: &AgentRec) -> Result<OfficeUnits> {
    if let Some(v) = hub.tree().get(keys::office(&agent.author))? {
        return wire::decode(&v).map_err(|e| Error::Corrupt(format!("office: {e}")));
    }
    Ok(build(hub, agent, vec![spec_ref(hub, &agent.unit)?]))
}

/// [`office`] judged against `units` instead of the hub's registry in memory (`verify` checks the
/// store against the units its entries make).
pub fn office_in(
    hub: &Hub,
    agent: &AgentRec,
    units: &baobi_proto::units::Units,
) -> Result<OfficeUnits> {
    if let Some(v) = hub.tree().get(keys::office(&agent.author))? {
        return wire::decode(&v).map_err(|e| Error::Corrupt(format!("office: {e}")));
    }
    let r = units
        .pick_version(&agent.unit, crate::indicators::today())
        .map(unit_ref)
        .map_err(|e| Error::Invalid(e.to_string()))?;
    let refs = vec![r];
    Ok(OfficeUnits {
        office: agent.author,
        past: past_units(units, &hub.lineage(), &refs),
        units: refs,
    })
}

fn build(hub: &Hub, agent: &AgentRec, mut units: Vec<UnitRef>) -> OfficeUnits {
    units.dedup();
    let past = hub.with_units(|u| past_units(u, &hub.lineage(), &units));
    OfficeUnits {
        office: agent.author,
        units,
        past,
    }
}

/// Signs `o` as a hub entry and indexes it, with `agent` rewritten in the same batch.
fn write(hub: &Hub, agent: &AgentRec, o: &OfficeUnits) -> Result<()> {
    hub.append_own_with(
        vec![Op::Office(o.clone())],
        vec![
            (keys::office(&agent.author), wire::encode(o)),
            (keys::agent(&agent.author), wire::encode(agent)),
        ],
    )?;
    Ok(())
}

/// Makes sure `agent` has its jurisdiction entry (at enrollment, and at each sync for offices
/// enrolled before there was one): the version its token named, or the lost office's when it
/// replaced one at a restore. Returns the agent as stored (its `unit` the plain code).
pub fn settle(hub: &Hub, agent: &AgentRec) -> Result<AgentRec> {
    let has = hub.tree().contains_key(keys::office(&agent.author))?;
    if has && !agent.unit.contains('@') {
        return Ok(agent.clone());
    }
    let mut units = vec![spec_ref(hub, &agent.unit)?];
    for a in hub.agents()? {
        if hub.replaced_by(&a.author)? == Some(agent.author) {
            if let Some(v) = hub.tree().get(keys::office(&a.author))? {
                let old: OfficeUnits =
                    wire::decode(&v).map_err(|e| Error::Corrupt(format!("office: {e}")))?;
                units = old.units;
            }
        }
    }
    let mut stored = agent.clone();
    stored.unit = units[0].code.clone();
    let o = build(hub, &stored, units);
    write(hub, &stored, &o)?;
    Ok(stored)
}

/// `agents move`: gives the office `who` the units `specs` (each `CODE` or `CODE@DATE`) beside the
/// unit it enrolled for, replacing any given before.
pub fn move_agent(hub: &Hub, who: &str, specs: &[String]) -> Result<(AgentRec, OfficeUnits)> {
    let agent = hub.find_agent(who)?;
    let agent = settle(hub, &agent)?;
    if specs.is_empty() {
        return Err(Error::Invalid(
            "cần ít nhất một --unit / give at least one --unit".into(),
        ));
    }
    let current = office(hub, &agent)?;
    let mut units = vec![current.units[0].clone()];
    for s in specs {
        let r = spec_ref(hub, s)?;
        // Inside a province-level unit the hub holds, as for enrollment tokens.
        let inside = hub.with_units(|u| {
            let d = u
                .version(&r)
                .and_then(|v| v.valid_from.or(v.valid_to))
                .unwrap_or(crate::indicators::today());
            u.iter()
                .filter(|p| p.level == Level::Province)
                .any(|p| u.is_within(&r.code, &p.code, d))
        });
        if !inside {
            return Err(Error::Invalid(format!(
                "đơn vị '{s}' không thuộc tỉnh / unit '{s}' is not inside province {}",
                hub.province()
            )));
        }
        if !units.contains(&r) {
            units.push(r);
        }
    }
    let o = build(hub, &agent, units);
    write(hub, &agent, &o)?;
    Ok((agent, o))
}

/// "Xã Xuân Lộc (26425, from 2025-07-01)", joined by "; " for an office holding several.
pub fn describe(hub: &Hub, o: &OfficeUnits) -> String {
    hub.with_units(|u| {
        o.units
            .iter()
            .map(|r| u.describe(r))
            .collect::<Vec<_>>()
            .join("; ")
    })
}

/// What an office is sent of the logs in its scope (see the README, "What an office receives"): of
/// the hub's log, units and plans, the review decisions of its own records and its own jurisdiction
/// entries; of other offices' logs, the entries about units inside its jurisdiction (outlets,
/// surveys and campaigns there, and the corrections and retractions of such records); its own log
/// whole. Everything else travels as [`Op::Elided`] placeholders, which keep the run's seal valid
/// for every entry sent (`proto::chain`).
#[derive(Debug, Clone)]
pub struct Audience {
    own: BTreeSet<AuthorId>,
    office: OfficeUnits,
}

/// The audience of `agent`: its own key and the keys it replaced at restores (their records are
/// its records), and its jurisdiction.
pub fn audience(hub: &Hub, agent: &AgentRec) -> Result<Audience> {
    let mut own = BTreeSet::from([agent.author]);
    let agents = hub.agents()?;
    loop {
        let mut grew = false;
        for a in &agents {
            if !own.contains(&a.author)
                && hub
                    .replaced_by(&a.author)?
                    .is_some_and(|n| own.contains(&n))
            {
                own.insert(a.author);
                grew = true;
            }
        }
        if !grew {
            return Ok(Audience {
                own,
                office: office(hub, agent)?,
            });
        }
    }
}

impl Audience {
    /// True when an office of this audience is sent `op` of the hub's log.
    pub fn shows(&self, op: &Op) -> bool {
        match op {
            Op::Review(r) => self.own.contains(&r.record.author),
            Op::Office(o) => self.own.contains(&o.office),
            _ => true,
        }
    }

    /// True when an office of this audience is sent `op` of another office's log: it is about a
    /// unit inside the office's jurisdiction (a correction or retraction: its record was, or it
    /// moves the record there).
    fn shows_other(&self, hub: &Hub, op: &Op) -> Result<bool> {
        let inside = |b: &baobi_proto::wire::Body| {
            let (unit, date) = crate::check::unit_of(b);
            hub.with_units(|u| crate::check::within(u, unit, &self.office, date))
        };
        let original = |id: &baobi_proto::wire::Dot| -> Result<bool> {
            Ok(hub
                .record(id)?
                .and_then(|r| r.original().cloned())
                .is_some_and(|b| inside(&b)))
        };
        Ok(match op {
            Op::Record(b) | Op::Created(wire::Created { body: b, .. }) => inside(b),
            Op::Correct(c) => inside(&c.body) || original(&c.record)?,
            Op::Retract(r) => original(&r.record)?,
            // Hub-only operations never stand in an office's log (the hub refuses them).
            _ => false,
        })
    }

    /// A run of a log in scope as this audience receives it.
    pub fn filter(&self, hub: &Hub, run: Run) -> Result<Run> {
        if run.author == hub.keypair().author() || Some(run.author) == hub.followed_primary()? {
            return Ok(run.elide(|_, op| !self.shows(op)));
        }
        if self.own.contains(&run.author) {
            return Ok(run);
        }
        // Decide first (store reads may fail), then elide.
        let mut hide = BTreeSet::new();
        for (i, it) in run.items.iter().enumerate() {
            if !matches!(it.op, Op::Elided(_)) && !self.shows_other(hub, &it.op)? {
                hide.insert(run.from + i as u64);
            }
        }
        Ok(run.elide(|seq, _| hide.contains(&seq)))
    }
}
