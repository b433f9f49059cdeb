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

/// What of the hub's own log an office is sent (see the README, "What an office receives"): units
/// and plans, the review decisions of its own records and its own jurisdiction entries. Everything
/// else of the hub's log travels as [`Op::Elided`] placeholders.
#[derive(Debug, Clone)]
pub struct Audience {
    own: BTreeSet<AuthorId>,
}

/// The audience of `agent`: its own key and the keys it replaced at restores (their records are
/// its records).
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
            return Ok(Audience { own });
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

    /// A run of the hub's own log as this audience receives it.
    pub fn filter(&self, run: Run) -> Run {
        run.elide(|_, op| !self.shows(op))
    }
}
