// baobi office app, forms: the facilities page (search, register, correct, close, reopen,
// certifications) and the market, retail and campaign forms with their drafts kept in localStorage,
// errors at the field and confirmable warnings. Uses core.js.
"use strict";

// ---- facilities ---------------------------------------------------------------------------------

const KINDS = ["market", "supermarket", "trade-centre", "convenience"];

function certText(c) {
  return (c.certifications || []).map((x) => t("cert_" + String(x.kind).replace(/-/g, "_")) + " " + t("since") + " " + x.from + (x.to ? " → " + x.to : "")).join("; ");
}

async function facilitiesPage() {
  const us = await units();
  const communes = us.filter((u) => u.level === "commune" || !u.level);
  const qs = new URLSearchParams(location.hash.split("?")[1] || "");
  const qIn = h("input", { id: "f-q", name: "q", value: qs.get("q") || "", placeholder: t("search_hint"), type: "search", size: 30 });
  const kindSel = h("select", { id: "f-kind", name: "kind" }, h("option", { value: "" }, t("any")),
    KINDS.map((k) => h("option", { value: k, selected: qs.get("kind") === k }, kindLabel(k))));
  const comSel = h("select", { id: "f-commune", name: "commune" }, h("option", { value: "" }, t("any")),
    communes.map((u) => h("option", { value: u.code, selected: qs.get("commune") === u.code }, u.name)));
  const params = {};
  for (const k of ["q", "kind", "commune"]) if (qs.get(k)) params[k] = qs.get(k);
  const rows = await outlets(params);
  const filters = h("form", { class: "filters", id: "facility-filters" },
    h("label", {}, t("search"), qIn), h("label", {}, t("col_kind"), kindSel), h("label", {}, t("col_commune"), comSel),
    h("button", { type: "submit", id: "f-submit" }, t("filter")));
  filters.addEventListener("submit", (ev) => {
    ev.preventDefault();
    const p = new URLSearchParams();
    if (qIn.value.trim()) p.set("q", qIn.value.trim());
    if (kindSel.value) p.set("kind", kindSel.value);
    if (comSel.value) p.set("commune", comSel.value);
    location.hash = "#/facilities" + (p.toString() ? "?" + p : "");
  });
  const table = h("div", { class: "table-wrap" }, h("table", { id: "facilities" },
    h("thead", {}, h("tr", {}, h("th", {}, t("col_name")), h("th", {}, t("col_kind")), h("th", {}, t("col_commune")),
      h("th", { class: "hide-narrow" }, t("col_certifications")), h("th", {}, t("col_open")), h("th", {}, ""))),
    h("tbody", {}, rows.map((o) => h("tr", { "data-id": o.id },
      h("td", { class: "name" }, o.name, o.address ? h("div", { class: "muted" }, o.address) : null),
      h("td", {}, kindLabel(o.kind), o.class ? " · " + t("class_n", { n: o.class }) : ""),
      h("td", {}, o.unit_name || unitName(o.unit)),
      h("td", { class: "hide-narrow" }, certText(o) || DASH),
      h("td", {}, o.retracted ? t("withdrawn") : o.closed ? t("closed_on", { d: o.closed }) : t("open")),
      h("td", { class: "noprint" }, h("button", { class: "edit", onclick: () => facilityForm(o, communes) }, t("correct"))))))));
  show(h("h1", { id: "page-title" }, t("facilities_title")), filters,
    h("p", { class: "muted", id: "facilities-count" }, t("n_facilities", { n: rows.length })),
    rows.length ? table : h("p", { class: "muted" }, t("no_facilities")),
    h("div", { id: "facility-form-slot" }, facilityFormEl(null, communes)));
}

function facilityForm(o, communes) {
  const slot = document.getElementById("facility-form-slot");
  slot.replaceChildren(facilityFormEl(o, communes));
  slot.scrollIntoView();
}

// One form for registering (o = null) and correcting (o = the outlet row) a facility.
function facilityFormEl(o, communes) {
  const f = {};
  const certFrom = (k) => ((o && o.certifications) || []).find((c) => c.kind === k) || {};
  const add = !o;
  const fields = [
    ["name", "text", true], ["kind", "kind", add], ["commune", "commune", true], ["address", "text"],
    ["class", "class"], ["civilized_since", "date"], ["civilized_until", "date", false, !add], ["new_rural_since", "date"],
    ["new_rural_until", "date", false, !add], ["opened", "date"], ["closed", "date"],
  ];
  const init = {
    name: o && o.name, kind: o ? o.kind : "market", commune: o && o.unit, address: o && o.address, class: o && o.class,
    civilized_since: certFrom("civilized").from, civilized_until: certFrom("civilized").to,
    new_rural_since: certFrom("new-rural").from, new_rural_until: certFrom("new-rural").to,
    opened: o && o.opened, closed: o && o.closed,
  };
  const els = [];
  for (const [name, type, req, onlyCorrect] of fields) {
    if (onlyCorrect === false) continue;
    if (name === "kind" && !add) continue;
    let input;
    if (type === "kind") input = h("select", { name }, KINDS.map((k) => h("option", { value: k, selected: init.kind === k }, kindLabel(k))));
    else if (type === "commune") input = h("select", { name }, h("option", { value: "" }, t("choose")), communes.map((u) => h("option", { value: u.code, selected: init.commune === u.code }, u.name)));
    else if (type === "class") input = h("select", { name }, h("option", { value: "" }, DASH), [1, 2, 3].map((n) => h("option", { value: n, selected: init.class === n }, t("class_n", { n }))));
    else input = h("input", { name, type: type === "date" ? "date" : "text", value: init[name] || "" });
    f[name] = input;
    els.push(fieldBox("facility-" + name, t("field_" + name), input, req));
  }
  const msg = h("p", { id: "facility-msg" });
  const form = h("form", { id: add ? "facility-add" : "facility-correct", novalidate: true },
    h("h2", {}, add ? t("h_register") : t("h_correct_facility") + ": " + o.name),
    h("div", { class: "grid" }, els),
    h("div", { class: "actions" },
      h("button", { class: "primary", type: "submit", id: add ? "facility-save" : "facility-correct-save" }, add ? t("register") : t("save_correction")),
      !add && !o.closed ? h("button", { type: "button", id: "facility-close", onclick: () => { f.closed.value = today(); f.closed.focus(); } }, t("close_today")) : null,
      !add && o.closed ? h("button", { type: "button", id: "facility-reopen", onclick: () => submit(true) }, t("reopen")) : null),
    msg);
  async function submit(reopen) {
    clearErrors(form);
    msg.className = ""; msg.textContent = "";
    const body = {};
    for (const [k, el] of Object.entries(f)) {
      const v = el.value.trim();
      if (k === "class") { if (v) body.class = Number(v); else continue; }
      else if (v !== "" && (add || String(init[k] || "") !== v)) body[k] = v;
    }
    try {
      if (add) {
        const r = await post("/api/outlets", body);
        msg.className = "ok";
        msg.textContent = t("saved") + " (" + (pick(r, "id") || "") + ")";
        setTimeout(() => facilitiesPage(), 0);
      } else {
        if (reopen) { delete body.closed; body.reopened = true; }
        await post("/api/outlets/" + encodeURIComponent(o.id) + "/correct", body);
        await facilitiesPage();
        const m = document.getElementById("facility-msg");
        if (m) { m.className = "ok"; m.textContent = t("saved"); }
      }
    } catch (e) { showError(form, e, msg); }
  }
  form.addEventListener("submit", (ev) => { ev.preventDefault(); submit(false); });
  return h("section", { class: "noprint" }, form);
}

// ---- survey and campaign forms -------------------------------------------------------------------

// Each field: [name, input kind, required, hint key]. Names are the API's (survey import's JSON Lines).
const FORMS = {
  market: [
    ["outlet", "outlet:market", true], ["date", "date", true], ["year", "int"], ["round", "round"],
    ["vendors_total", "int", true], ["vendors_surveyed", "int", true], ["nonbio_kg", "dec", true, "hint_nonbio_kg"],
    ["vendors_nonbio", "int", true], ["eco_kg", "dec"], ["vendors_alternatives", "int"], ["operating_days", "int", false, "hint_operating_days"],
    ["reduction_model", "bool"], ["notes", "textarea"],
  ],
  retail: [
    ["outlet", "outlet:retail", true], ["date", "date", true], ["year", "int"], ["gives_nonbio", "yesno", true],
    ["bag_types", "text"], ["nonbio_bags", "int"], ["eco_bags", "int"], ["sells_reusable", "yesno"], ["eco_labelled", "yesno"],
    ["notes", "textarea"],
  ],
  campaign: [
    ["unit", "unit", true], ["date", "date", true], ["kind", "campaign_kind", true], ["participants", "int"], ["topic", "text", true],
  ],
};
const CAMPAIGN_KINDS = ["training", "media", "event", "materials", "other"];

function inputFor(name, kind, outletsList, unitList) {
  if (kind.startsWith("outlet:")) {
    const want = kind.slice(7);
    const opts = outletsList.filter((o) => !o.retracted && (want === "market" ? o.kind === "market" : o.kind !== "market"));
    return h("select", { name }, h("option", { value: "" }, t("choose")),
      opts.map((o) => h("option", { value: o.id }, o.name + " — " + (o.unit_name || unitName(o.unit)) + (want === "retail" ? " (" + kindLabel(o.kind) + ")" : ""))));
  }
  switch (kind) {
    case "date": return h("input", { name, type: "date" });
    case "int": return h("input", { name, type: "number", step: "1", inputmode: "numeric" });
    case "dec": return h("input", { name, type: "text", inputmode: "decimal", placeholder: LANG === "vi" ? "12,5" : "12.5" });
    case "round": return h("select", { name }, ["annual", "baseline", "follow-up"].map((r) => h("option", { value: r }, t("round_" + r.replace(/-/g, "_")))));
    case "bool": return h("select", { name }, h("option", { value: "no" }, t("no")), h("option", { value: "yes" }, t("yes")));
    case "yesno": return h("select", { name }, h("option", { value: "" }, t("choose")), h("option", { value: "yes" }, t("yes")), h("option", { value: "no" }, t("no")));
    case "campaign_kind": return h("select", { name }, h("option", { value: "" }, t("choose")), CAMPAIGN_KINDS.map((k) => h("option", { value: k }, t("campaign_kind_" + k))));
    case "unit": return h("select", { name }, unitList.map((u) => h("option", { value: u.code }, u.name)));
    case "textarea": return h("textarea", { name, rows: 2 });
    default: return h("input", { name, type: "text" });
  }
}

// What the API takes for a field's typed text: integers as numbers (anything else as typed, so the
// API names the field), decimals with a comma or a point, yes/no as words, the model flag as a bool.
function apiValue(kind, raw) {
  const v = raw.trim();
  if (v === "") return undefined;
  if (kind === "int") return /^-?\d+$/.test(v) ? Number(v) : v;
  if (kind === "dec") return v.replace(",", ".");
  if (kind === "bool") return v === "yes";
  return v;
}
// A stored value shown back in a field (correcting a survey): grams back to kg, booleans to yes/no.
function formValue(name, v) {
  if (!v) return {};
  const out = {};
  const map = { nonbio_kg: ["nonbio_g_per_day", 1000], eco_kg: ["eco_g_per_day", 1000], nonbio_bags: ["nonbio_bags_per_day"], eco_bags: ["eco_bags_per_day"] };
  for (const [k, x] of Object.entries(v)) out[k] = x;
  for (const [k, [src, div]] of Object.entries(map)) if (v[src] !== undefined && v[src] !== null) out[k] = div ? String(v[src] / div) : v[src];
  for (const k of ["gives_nonbio", "sells_reusable", "eco_labelled", "reduction_model"]) if (typeof v[k] === "boolean") out[k] = v[k] ? "yes" : "no";
  if (out.round) out.round = String(out.round).replace(/_/g, "-");
  if (out.kind && name === "campaign") out.kind = String(out.kind);
  return out;
}

const DRAFT = (kind) => "baobi.draft." + kind;

async function formPage(kind, q) {
  let correcting = null;
  let formKind = kind;
  if (kind === "correct") {
    const d = await api("/api/surveys/" + encodeURIComponent(q.get("id")));
    correcting = d;
    const s = d.survey || d;
    formKind = String(s.type || "").startsWith("retail") ? "retail" : "market";
  }
  const [os, us] = await Promise.all([formKind === "campaign" ? [] : outlets(), formKind === "campaign" ? units() : units()]);
  const spec = FORMS[formKind];
  const inputs = {};
  const boxes = spec.map(([name, k, req, hint]) => {
    const input = inputFor(name, k, os, us);
    inputs[name] = input;
    return fieldBox("in-" + name, t("field_" + name), input, req, hint ? t(hint) : null);
  });
  const msg = h("p", { id: "form-msg", "aria-live": "polite" });
  const warnBox = h("div", { id: "warnings-slot" });
  const saveBtn = h("button", { class: "primary", type: "submit", id: "form-save" }, correcting ? t("save_correction") : t("save"));
  const draftKey = correcting ? DRAFT("correct." + q.get("id")) : DRAFT(formKind);
  const form = h("form", { id: "survey-form", "data-kind": formKind, novalidate: true }, h("div", { class: "grid" }, boxes), warnBox,
    h("div", { class: "actions" }, saveBtn, h("button", { type: "button", id: "form-clear", onclick: () => { localStorage.removeItem(draftKey); fill({}); clearErrors(form); msg.textContent = ""; } }, t("clear_form"))), msg);
  const current = () => {
    const o = {};
    for (const [n, el] of Object.entries(inputs)) o[n] = el.value;
    return o;
  };
  function fill(values) {
    for (const [n, el] of Object.entries(inputs)) {
      const v = values[n];
      if (v === undefined || v === null) { el.value = el.tagName === "SELECT" ? (el.options[0] ? el.options[0].value : "") : ""; continue; }
      el.value = String(v);
    }
  }
  const baseline = {};
  if (correcting) {
    const s = correcting.survey || correcting;
    Object.assign(baseline, formValue(formKind, s.value), { outlet: s.outlet, date: s.date, year: s.year });
    fill(baseline);
  } else {
    if (formKind !== "campaign" && q.get("outlet")) inputs.outlet.value = q.get("outlet");
    if (inputs.date && !inputs.date.value) inputs.date.value = today();
  }
  const pristine = JSON.stringify(current());
  // Every input writes the half-filled form to localStorage: a reload, a closed tab or a power cut
  // gives it back. It is removed only once the API answered 201 (the record is durable).
  form.addEventListener("input", () => {
    localStorage.setItem(draftKey, JSON.stringify({ at: new Date().toISOString(), values: current() }));
    form.querySelectorAll(".warnings").forEach((w) => w.remove());
  });
  form.addEventListener("change", () => form.dispatchEvent(new Event("input")));
  let offer = null;
  const saved = localStorage.getItem(draftKey);
  if (saved) {
    try {
      const d = JSON.parse(saved);
      if (JSON.stringify(d.values) !== pristine) {
        offer = h("section", { class: "draft noprint", id: "draft-offer" },
          h("p", {}, t("draft_found", { at: when(d.at) })),
          h("button", { id: "draft-restore", class: "primary", onclick: () => { fill(d.values); offer.remove(); } }, t("draft_restore")), " ",
          h("button", { id: "draft-discard", onclick: () => { localStorage.removeItem(draftKey); offer.remove(); } }, t("draft_discard")));
      }
    } catch (_) { localStorage.removeItem(draftKey); }
  }
  async function submit(confirm) {
    clearErrors(form);
    msg.className = ""; msg.textContent = t("saving");
    saveBtn.disabled = true;
    const body = {};
    for (const [name, k] of spec) {
      const raw = inputs[name].value;
      if (correcting && String(baseline[name] ?? "") === raw) continue;
      const v = apiValue(k, raw);
      if (v !== undefined) body[name] = v;
      else if (correcting && raw === "" && baseline[name] !== undefined && baseline[name] !== "") body[name] = null;
    }
    if (correcting) {
      // The correction's on/off pair for the market's reduction model (both present, as the CLI's
      // --reduction-model / --no-reduction-model): set only when changed.
      if (formKind === "market") {
        const changed = inputs.reduction_model.value !== String(baseline.reduction_model ?? "no");
        body.reduction_model = changed && inputs.reduction_model.value === "yes";
        body.no_reduction_model = changed && inputs.reduction_model.value === "no";
      } else {
        body.reduction_model = false;
        body.no_reduction_model = false;
      }
      const heads = (correcting.heads || []).map((x) => x.hash);
      if (heads.length > 1) body.heads = heads;
    } else if (formKind !== "campaign") body.type = formKind;
    if (confirm) body.confirm = true;
    try {
      let r;
      if (correcting) r = await post("/api/surveys/" + encodeURIComponent(q.get("id")) + "/correct", body);
      else if (formKind === "campaign") r = await post("/api/campaigns", body);
      else r = await post("/api/surveys", body);
      localStorage.removeItem(draftKey);
      const id = pick(r, "id") || q.get("id");
      msg.className = "ok";
      msg.textContent = "";
      // Campaigns have no record page (the records list is of surveys): their id is shown plainly.
      msg.append(t("saved_durable") + " ", formKind === "campaign" ? h("code", { id: "saved-link" }, id)
        : h("a", { href: "#/records/" + encodeURIComponent(id), id: "saved-link" }, id), " · " + t("not_sent_yet"));
      const warns = list(pick(r, "warnings") || []);
      if (warns.length) msg.append(h("div", { class: "warn" }, warns.map((w) => (typeof w === "string" ? w : w.message || w.error))));
      if (!correcting) { fill({}); if (inputs.date) inputs.date.value = today(); if (inputs.unit && us[0]) inputs.unit.value = STATUS.unit; }
    } catch (e) {
      const warns = list(e.body && (e.body.warnings || (e.status === 409 || e.status === 422 ? [e.body.error] : [])) || []);
      if ((e.status === 409 || e.status === 422) && warns.length) {
        msg.className = ""; msg.textContent = "";
        warnBox.replaceChildren(h("section", { class: "warnings", id: "warnings" },
          h("p", {}, h("strong", {}, t("warnings_title"))),
          h("ul", {}, warns.map((w) => h("li", {}, typeof w === "string" ? w : w.message || w.error || JSON.stringify(w)))),
          h("button", { type: "button", class: "primary", id: "confirm-save", onclick: () => { warnBox.replaceChildren(); submit(true); } }, t("confirm_save"))));
      } else showError(form, e, msg);
    } finally { saveBtn.disabled = false; }
  }
  form.addEventListener("submit", (ev) => { ev.preventDefault(); submit(false); });
  if (inputs.unit && !correcting) inputs.unit.value = STATUS.unit;
  const title = correcting ? t("correct_title") + " " + q.get("id") : t("new_" + formKind + "_title");
  const reason = correcting && (correcting.survey || {}).review_reason;
  show(h("h1", { id: "page-title" }, title),
    reason ? h("p", { class: "error", id: "correct-reason" }, t("returned_because") + ": " + reason) : null,
    offer,
    formKind !== "campaign" && !os.some((o) => (formKind === "market") === (o.kind === "market"))
      ? h("p", { class: "warn" }, t("no_outlets_yet") + " ", h("a", { href: "#/facilities" }, t("nav_facilities"))) : null,
    h("section", {}, form),
    formKind === "market" ? h("p", { class: "noprint" }, h("a", { href: "#/print/form" }, t("print_blank_form"))) : null);
}
