// baobi office app, records and the rest: the records list and a record's page (history, correct,
// withdraw, a conflict side by side), import, sync, print, and LAN devices and pairing. Uses core.js
// and forms.js (the forms' field lists).
"use strict";

// ---- records ------------------------------------------------------------------------------------

const PAGE = 50;
function surveySummary(r) {
  const v = r.value || {};
  if (String(r.type).startsWith("market")) return num((v.nonbio_g_per_day || 0) / 1000) + " " + t("kg_per_day");
  if (String(r.type).startsWith("retail")) return v.gives_nonbio ? t("gives_nonbio_yes") : t("gives_nonbio_no");
  return v.topic || "";
}
async function recordsPage(q) {
  const params = new URLSearchParams(q);
  if (!params.get("limit")) params.set("limit", String(PAGE));
  const offset = Number(params.get("offset") || 0);
  const data = await api("/api/surveys?" + params.toString());
  const rows = list(data, "surveys", "records", "items", "rows");
  const total = pick(data, "total", "count") ?? rows.length;
  const sel = (name, opts) => h("select", { name, id: "f-" + name }, h("option", { value: "" }, t("any")),
    opts.map(([v, l]) => h("option", { value: v, selected: q.get(name) === v }, l)));
  const yearIn = h("input", { name: "year", id: "f-year", type: "number", value: q.get("year") || "", style: "width:6em" });
  const form = h("form", { class: "filters", id: "record-filters" },
    h("label", {}, t("col_type"), sel("kind", [["market", t("type_market_survey")], ["retail", t("type_retail_survey")]])),
    h("label", {}, t("year"), yearIn),
    h("label", {}, t("col_review"), sel("review", ["submitted", "returned", "verified"].map((k) => [k, reviewLabel(k)]))),
    h("label", {}, t("col_conflict"), sel("conflict", [["true", t("yes")], ["false", t("no")]])),
    h("label", {}, t("col_sent"), sel("unsent", [["true", t("not_sent")]])),
    h("button", { type: "submit", id: "f-submit" }, t("filter")));
  form.addEventListener("submit", (ev) => {
    ev.preventDefault();
    const p = new URLSearchParams();
    for (const el of form.querySelectorAll("select, input")) if (el.value) p.set(el.name, el.value);
    location.hash = "#/records" + (p.toString() ? "?" + p : "");
  });
  const page = (off) => { const p = new URLSearchParams(q); p.set("offset", String(Math.max(0, off))); return "#/records?" + p; };
  const table = h("div", { class: "table-wrap" }, h("table", { id: "records" },
    h("thead", {}, h("tr", {}, h("th", {}, t("col_id")), h("th", {}, t("col_type")), h("th", {}, t("col_outlet")),
      h("th", {}, t("col_date")), h("th", { class: "hide-narrow" }, t("col_summary")), h("th", {}, t("col_review")), h("th", {}, t("col_sent")))),
    h("tbody", {}, rows.map((r) => h("tr", { "data-id": r.id },
      h("td", {}, h("a", { href: "#/records/" + encodeURIComponent(r.id), class: "record-link" }, r.id)),
      h("td", {}, typeLabel(r.type)),
      h("td", {}, r.outlet_name || DASH, h("div", { class: "muted" }, r.unit_name || "")),
      h("td", {}, r.date || DASH),
      h("td", { class: "hide-narrow" }, r.retracted ? t("withdrawn") : surveySummary(r)),
      h("td", {}, h("span", { class: "badge " + (r.review || "submitted") }, reviewLabel(r.review)), r.conflict ? h("span", { class: "badge conflict" }, t("conflict")) : null,
        r.review_reason ? h("div", { class: "muted" }, r.review_reason) : null),
      h("td", { class: "sent" }, r.synced ? h("span", { class: "badge sent" }, t("sent"))
        : r.at_relay ? h("span", { class: "badge at-relay" }, t("at_relay")) : h("span", { class: "badge unsent" }, t("not_sent"))))))));
  show(h("h1", { id: "page-title" }, t("records_title")), form,
    h("p", { class: "muted", id: "records-count" }, t("n_records", { n: total }) + (total > rows.length ? " · " + t("showing", { from: total ? offset + 1 : 0, to: offset + rows.length }) : "")),
    rows.length ? table : h("p", { class: "muted" }, t("no_records")),
    h("p", { class: "noprint" },
      offset > 0 ? h("a", { href: page(offset - PAGE), id: "page-prev" }, "← " + t("prev")) : null, " ",
      offset + rows.length < total ? h("a", { href: page(offset + PAGE), id: "page-next" }, t("next") + " →") : null));
}

function valueTable(v) {
  if (!v) return h("p", { class: "muted" }, DASH);
  const shown = formValue("", v);
  const skip = new Set(["nonbio_g_per_day", "eco_g_per_day", "nonbio_bags_per_day", "eco_bags_per_day", "outlet", "unit", "kind", "type"]);
  return h("table", { class: "kv" }, h("tbody", {}, Object.entries(shown).filter(([k]) => !skip.has(k)).map(([k, x]) =>
    h("tr", { "data-field": k }, h("th", {}, t("field_" + k)),
      h("td", {}, x === "yes" ? t("yes") : x === "no" ? t("no") : k === "round" ? t("round_" + String(x).replace(/-/g, "_")) : k.endsWith("_kg") ? num(x) + " kg" : x === "" || x === null ? DASH : String(x))))));
}

async function recordPage(id) {
  const d = await api("/api/surveys/" + encodeURIComponent(id));
  const s = d.survey || d;
  const heads = d.heads || [];
  const history = d.history || [];
  const msg = h("p", { id: "record-msg" });
  const reason = h("input", { id: "retract-reason", placeholder: t("retract_reason"), size: 30 });
  const retract = async () => {
    msg.className = ""; msg.textContent = "";
    try {
      await post("/api/surveys/" + encodeURIComponent(id) + "/retract", { reason: reason.value.trim() });
      await recordPage(id);
    } catch (e) { msg.className = "error"; msg.textContent = e.message; }
  };
  // A conflict: both heads side by side, and keeping one is a correction naming both.
  const keep = async (hd) => {
    msg.className = ""; msg.textContent = "";
    try {
      const body = Object.assign({}, apiBodyOf(s.type, hd.value), { heads: heads.map((x) => x.hash) });
      await post("/api/surveys/" + encodeURIComponent(id) + "/correct", body);
      await recordPage(id);
      const m = document.getElementById("record-msg");
      if (m) { m.className = "ok"; m.textContent = t("conflict_resolved"); }
    } catch (e) { msg.className = "error"; msg.textContent = e.message; }
  };
  show(
    h("h1", { id: "page-title" }, t("record_title") + " " + s.id),
    h("p", { class: "noprint" }, h("a", { href: "#/records" }, "← " + t("nav_records"))),
    h("section", {}, h("table", { id: "record-facts" }, h("tbody", {},
      h("tr", {}, h("th", {}, t("col_type")), h("td", {}, typeLabel(s.type))),
      h("tr", {}, h("th", {}, t("col_outlet")), h("td", {}, s.outlet_name || DASH, " · ", s.unit_name || "")),
      h("tr", {}, h("th", {}, t("col_date")), h("td", {}, s.date || DASH, " · " + t("year") + " " + (s.year || DASH))),
      h("tr", {}, h("th", {}, t("col_review")), h("td", { id: "record-review" }, reviewLabel(s.review), s.review_reason ? " — " + s.review_reason : "",
        s.review_at ? h("span", { class: "muted" }, " (" + when(s.review_at) + ")") : null)),
      h("tr", {}, h("th", {}, t("col_sent")), h("td", { id: "record-sent" }, s.synced ? t("sent") : s.at_relay ? t("at_relay") : t("not_sent"))),
      s.retracted ? h("tr", {}, h("th", {}, t("withdrawn")), h("td", {}, yesNo(true))) : null))),
    s.conflict
      ? h("section", { id: "conflict" }, h("h2", {}, t("h_conflict")), h("p", { class: "muted" }, t("conflict_hint")),
        h("div", { class: "side" }, heads.map((hd, i) => h("div", { class: "card", "data-head": hd.hash },
          h("h3", {}, t("version_n", { n: i + 1 }) + " · " + when(hd.at)), valueTable(hd.value),
          h("button", { class: "primary keep", onclick: () => keep(hd) }, t("keep_this"))))))
      : h("section", {}, h("h2", {}, t("h_current")), s.retracted ? h("p", {}, t("withdrawn")) : valueTable(s.value)),
    h("section", {}, h("h2", {}, t("h_history")), h("div", { class: "table-wrap" }, h("table", { id: "history" },
      h("thead", {}, h("tr", {}, h("th", {}, t("col_time")), h("th", {}, t("col_action")), h("th", {}, t("col_summary")))),
      h("tbody", {}, history.map((v, i) => h("tr", {},
        h("td", { class: "time" }, when(v.at)),
        h("td", {}, v.retracted !== null && v.retracted !== undefined ? t("action_retracted") : i === 0 || !(v.supersedes || []).length ? t("action_created") : t("action_corrected")),
        h("td", {}, v.value ? surveySummary({ type: s.type, value: v.value }) : v.retracted || ""))))))),
    s.retracted ? null : h("section", { class: "noprint", id: "record-actions" },
      h("a", { href: "#/records/" + encodeURIComponent(id) + "/correct", id: "record-correct" }, t("correct")), " · ",
      reason, " ", h("button", { class: "danger", id: "record-retract", onclick: retract }, t("retract"))),
    msg);
}
// A stored body as the API's correction fields.
function apiBodyOf(type, v) {
  const f = formValue("", v || {});
  const spec = String(type).startsWith("retail") ? FORMS.retail : FORMS.market;
  const body = {};
  for (const [name, k] of spec) {
    if (name === "outlet" || f[name] === undefined || f[name] === null) continue;
    const x = apiValue(k, String(f[name]));
    if (x !== undefined) body[name] = x;
  }
  const market = !String(type).startsWith("retail");
  body.no_reduction_model = market && body.reduction_model === false;
  body.reduction_model = market && body.reduction_model === true;
  return body;
}

// ---- import -------------------------------------------------------------------------------------

function importPage() {
  const file = h("input", { type: "file", id: "import-file", accept: ".csv,.xlsx,.jsonl,text/csv,application/vnd.openxmlformats-officedocument.spreadsheetml.sheet" });
  const out = h("div", { id: "import-result" });
  let bytes = null, ctype = null;
  const check = async (commit) => {
    out.replaceChildren(h("p", {}, t("import_checking")));
    try {
      const r = await api("/api/import" + (commit ? "?commit=true" : ""), { method: "POST", headers: { "content-type": ctype }, body: bytes });
      const saved = list(r, "saved", "rows", "ids");
      if (commit) {
        out.replaceChildren(h("p", { class: "ok", id: "import-saved" }, t("import_saved", { n: saved.length || pick(r, "count") || 0 })));
      } else {
        const n = pick(r, "checked", "count", "valid");
        out.replaceChildren(h("p", { class: "ok" }, t("import_ok", { n: typeof n === "number" ? n : saved.length })),
          h("button", { class: "primary", id: "import-commit", onclick: () => check(true) }, t("import_commit")));
      }
    } catch (e) {
      const errs = list(e.body || {}, "errors", "rows");
      out.replaceChildren(h("p", { class: "error" }, errs.length ? t("import_bad", { n: errs.length }) : e.message),
        errs.length ? h("table", { id: "import-errors" }, h("thead", {}, h("tr", {}, h("th", {}, t("col_line")), h("th", {}, t("col_field")), h("th", {}, t("col_error")))),
          h("tbody", {}, errs.map((x) => h("tr", { "data-line": x.line }, h("td", {}, x.line), h("td", { class: "field" }, x.field ? DICT["field_" + String(x.field).replace(/-/g, "_")] || x.field : DASH), h("td", {}, x.error || x.message))))) : null);
    }
  };
  file.addEventListener("change", async () => {
    const f = file.files[0];
    if (!f) return;
    bytes = await f.arrayBuffer();
    ctype = /\.xlsx$/i.test(f.name) ? "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet" : /\.csv$/i.test(f.name) ? "text/csv" : "application/x-ndjson";
    check(false);
  });
  show(h("h1", { id: "page-title" }, t("import_title")), h("section", {}, h("p", {}, t("import_intro")), file, out));
}

// ---- sync ---------------------------------------------------------------------------------------

function syncWords(r) {
  if (!r) return DASH;
  if (r.message || r.words) return r.message || r.words;
  const up = pick(r, "sent", "up", "entries_sent");
  const down = pick(r, "received", "down", "entries_received");
  if (r.ok === false || r.error) return t("sync_failed") + ": " + (r.error || "");
  return t("sync_done", { up: up ?? 0, down: down ?? 0 });
}
async function syncPage() {
  const bar = h("div", { class: "progress" }, h("div", {}));
  const result = h("p", { id: "sync-result", "aria-live": "polite" });
  const btn = h("button", { class: "primary", id: "sync-now" }, t("sync_now"));
  const histSlot = h("div", { id: "sync-history" });
  const history = async () => {
    try {
      const rows = list(await api("/api/syncs"), "syncs", "history");
      histSlot.replaceChildren(rows.length ? h("table", {}, h("thead", {}, h("tr", {}, h("th", {}, t("col_time")), h("th", {}, t("col_result")))),
        h("tbody", {}, rows.map((r) => h("tr", {}, h("td", { class: "time" }, when(pick(r, "at", "started", "time"))), h("td", { class: r.ok === false || r.error ? "error" : "" }, syncWords(r))))))
        : h("p", { class: "muted" }, t("no_syncs")));
    } catch (e) { histSlot.replaceChildren(h("p", { class: "muted" }, e.message)); }
  };
  btn.addEventListener("click", async () => {
    btn.disabled = true;
    result.className = "";
    result.textContent = t("sync_running");
    let polling = true;
    const poll = async () => {
      while (polling) {
        try {
          const p = await api("/api/sync/progress");
          const total = pick(p, "total", "to_send"), doneN = pick(p, "done", "sent");
          if (total) bar.firstChild.style.width = Math.min(100, Math.round(100 * (doneN || 0) / total)) + "%";
          if (polling && p && (p.phase || p.message)) result.textContent = t("sync_running") + " " + (p.message || DICT["phase_" + p.phase] || "");
        } catch (_) { /* progress is optional */ }
        await new Promise((r) => setTimeout(r, 300));
      }
    };
    poll();
    try {
      const r = await post("/api/sync", {});
      polling = false;
      bar.firstChild.style.width = "100%";
      result.className = r && (r.ok === false || r.error) ? "error" : "ok";
      result.textContent = syncWords(r);
    } catch (e) {
      polling = false;
      result.className = "error";
      result.textContent = t("sync_failed") + ": " + e.message;
    }
    btn.disabled = false;
    try { hubLine(await refreshStatus()); } catch (_) { /* keep the line */ }
    history();
  });
  show(h("h1", { id: "page-title" }, t("sync_title")),
    h("section", {}, h("p", {}, t("pending") + ": ", h("strong", { id: "sync-pending" }, STATUS.pending ?? 0)), btn, h("div", { style: "margin-top:.6em" }, bar), result),
    h("section", {}, h("h2", {}, t("h_sync_history")), histSlot));
  await history();
}

// ---- print --------------------------------------------------------------------------------------

function printMenu() {
  show(h("h1", { id: "page-title" }, t("print_title")),
    h("ul", {}, h("li", {}, h("a", { href: "#/print/form", id: "print-form" }, t("print_blank_form"))),
      h("li", {}, h("a", { href: "#/print/year", id: "print-year" }, t("print_year_summary")))));
}
function printForm() {
  const row = (k, extra) => h("tr", {}, h("th", {}, t("field_" + k)), h("td", {}, extra || ""));
  show(h("div", { class: "sheet", id: "print-sheet" },
    h("p", { class: "noprint actions" }, h("button", { class: "primary", onclick: () => window.print() }, t("print_now"))),
    h("p", {}, t("print_header_left", { unit: STATUS.unit_name || "" })),
    h("h1", { id: "page-title" }, t("print_form_title")),
    h("p", {}, t("print_form_intro")),
    h("table", { class: "form" }, h("tbody", {},
      row("outlet"), row("date", "…… / …… / 20……"), row("round", "☐ " + t("round_baseline") + "   ☐ " + t("round_annual") + "   ☐ " + t("round_follow_up")),
      row("vendors_total"), row("vendors_surveyed"), row("nonbio_kg", "………… kg"), row("vendors_nonbio"), row("eco_kg", "………… kg"),
      row("vendors_alternatives"), row("operating_days"), row("reduction_model", "☐ " + t("yes") + "   ☐ " + t("no")), row("notes"))),
    h("p", { class: "muted" }, t("print_form_hint")),
    h("div", { class: "sign" }, h("div", {}, h("strong", {}, t("print_surveyor")), h("div", { class: "muted" }, t("print_sign"))),
      h("div", {}, h("strong", {}, t("print_market_rep")), h("div", { class: "muted" }, t("print_sign"))))));
}
async function printYear(q) {
  const year = Number(q.get("year") || new Date().getFullYear());
  const all = [];
  for (let off = 0; ; off += 500) {
    const d = await api("/api/surveys?year=" + year + "&limit=500&offset=" + off);
    const rows = list(d, "surveys", "records", "items", "rows");
    all.push(...rows);
    const total = pick(d, "total", "count") ?? rows.length;
    if (!rows.length || all.length >= total) break;
  }
  const live = all.filter((r) => !r.retracted);
  const markets = live.filter((r) => String(r.type).startsWith("market"));
  const retail = live.filter((r) => String(r.type).startsWith("retail"));
  const kg = markets.reduce((a, r) => a + ((r.value || {}).nonbio_g_per_day || 0), 0) / 1000;
  const st = STATUS;
  const office = pick(st, "indicators", "office_indicators", "office_view");
  const inds = Array.isArray(office) ? office : list(office || {}, "indicators");
  show(h("div", { class: "sheet", id: "print-sheet" },
    h("p", { class: "noprint actions" }, h("button", { class: "primary", onclick: () => window.print() }, t("print_now")), " ",
      h("a", { href: "#/print/year?year=" + (year - 1) }, "← " + (year - 1)), " ", h("a", { href: "#/print/year?year=" + (year + 1) }, (year + 1) + " →")),
    h("h1", { id: "page-title" }, t("print_year_title", { year, unit: st.unit_name || "" })),
    h("p", { class: "muted" }, t("office_view_note")),
    h("table", { id: "year-summary" }, h("tbody", {},
      h("tr", {}, h("th", {}, t("sum_market_surveys")), h("td", { class: "num" }, markets.length)),
      h("tr", {}, h("th", {}, t("sum_retail_surveys")), h("td", { class: "num" }, retail.length)),
      h("tr", {}, h("th", {}, t("sum_nonbio_kg")), h("td", { class: "num" }, num(kg.toFixed(1)))),
      h("tr", {}, h("th", {}, t("sum_returned")), h("td", { class: "num" }, live.filter((r) => r.review === "returned").length)),
      h("tr", {}, h("th", {}, t("sum_unsent")), h("td", { class: "num" }, live.filter((r) => !r.synced).length)))),
    inds.length ? [h("h2", {}, t("h_office_view")), indicatorsTable(inds)] : null,
    h("h2", {}, t("h_surveys")),
    h("table", {}, h("thead", {}, h("tr", {}, h("th", {}, t("col_date")), h("th", {}, t("col_type")), h("th", {}, t("col_outlet")), h("th", {}, t("col_summary")))),
      h("tbody", {}, live.map((r) => h("tr", {}, h("td", {}, r.date), h("td", {}, typeLabel(r.type)), h("td", {}, r.outlet_name || ""), h("td", {}, surveySummary(r))))))));
}

// ---- LAN devices and pairing ----------------------------------------------------------------------

async function devicesPage() {
  const codeSlot = h("div", { id: "pair-code-slot" });
  const listSlot = h("div", { id: "devices-list" });
  const load = async () => {
    try {
      const ds = list(await api("/api/devices"), "devices");
      listSlot.replaceChildren(ds.length ? h("table", { id: "devices" },
        h("thead", {}, h("tr", {}, h("th", {}, t("col_device")), h("th", {}, t("col_paired_at")), h("th", {}, ""))),
        h("tbody", {}, ds.map((d) => h("tr", { "data-id": d.id }, h("td", {}, d.label || d.name || d.user_agent || d.id), h("td", { class: "time" }, when(pick(d, "paired_at", "at", "created"))),
          h("td", {}, h("button", { class: "danger", onclick: async () => { await send("DELETE", "/api/devices/" + encodeURIComponent(d.id), {}); load(); } }, t("remove")))))))
        : h("p", { class: "muted" }, t("no_devices")));
    } catch (e) { listSlot.replaceChildren(h("p", { class: "error" }, e.message)); }
  };
  const newCode = async () => {
    try {
      const r = await api("/api/pairing");
      codeSlot.replaceChildren(h("p", {}, t("pair_show_code")), h("p", { class: "code", id: "pair-code" }, r.code),
        h("p", { class: "muted" }, t("pair_code_valid", { at: when(r.valid_secs ? new Date(Date.now() + 1000 * r.valid_secs).toISOString() : pick(r, "expires", "expires_at")) })));
    } catch (e) { codeSlot.replaceChildren(h("p", { class: "error" }, e.message)); }
  };
  show(h("h1", { id: "page-title" }, t("devices_title")),
    h("section", {}, h("h2", {}, t("h_pair_device")), h("p", {}, t("pair_intro")), h("button", { class: "primary", id: "pair-new", onclick: newCode }, t("pair_new_code")), codeSlot),
    h("section", {}, h("h2", {}, t("h_devices")), listSlot));
  await load();
}

function pairPage() {
  const code = h("input", { id: "pair-input", name: "code", inputmode: "numeric", maxlength: 6, pattern: "[0-9]{6}", autocomplete: "one-time-code", class: "code", style: "width:7em" });
  const err = h("p", { class: "error", id: "pair-error" });
  const form = h("form", { class: "pair", id: "pair-form" }, h("h1", { id: "page-title" }, t("pair_title")), h("p", {}, t("pair_enter")), code,
    h("div", { class: "actions" }, h("button", { class: "primary", type: "submit", id: "pair-submit" }, t("pair_submit"))), err);
  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    err.textContent = "";
    try {
      await post("/api/pair", { code: code.value.trim(), label: (navigator.userAgentData && navigator.userAgentData.platform) || navigator.platform || undefined });
      location.hash = "#/";
      route();
    } catch (e) { err.textContent = e.message; }
  });
  show(form);
}
