// baobi dashboard: draws each page from the JSON API. No build step, no framework.
// Every visible string comes from the dictionary embedded in the page, looked up with t(key).
"use strict";

const I18N = JSON.parse(document.getElementById("i18n").textContent);
const LANG = document.documentElement.lang || "vi";
function t(k) { return I18N[k] !== undefined ? I18N[k] : k; }

// Element builder: h("td", {class: "x"}, "text", child, ...). Text is always set as text, never HTML.
function h(tag, attrs, ...kids) {
  const el = document.createElementNS(
    tag === "svg" || attrs && attrs.svg ? "http://www.w3.org/2000/svg" : "http://www.w3.org/1999/xhtml", tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (k === "svg" || v === null || v === undefined) continue;
    if (k.startsWith("on")) el.addEventListener(k.slice(2), v);
    else el.setAttribute(k, v);
  }
  for (const c of kids.flat()) {
    if (c === null || c === undefined) continue;
    el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return el;
}
function s(tag, attrs, ...kids) { return h(tag, Object.assign({ svg: true }, attrs), ...kids); }

const DASH = "—";
function pct(v) {
  if (v === null || v === undefined) return DASH;
  const x = (v * 100).toFixed(1);
  return LANG === "vi" ? x.replace(".", ",") + " %" : x + "%";
}
function num(v) {
  if (v === null || v === undefined) return DASH;
  return Number.isInteger(v) ? String(v) : (LANG === "vi" ? String(v).replace(".", ",") : String(v));
}
function yesNo(b) { return b === true ? t("yes") : b === false ? t("no") : DASH; }
function metCell(m) {
  if (m === true) return h("td", { class: "met-yes" }, "✓ " + t("met"));
  if (m === false) return h("td", { class: "met-no" }, "✗ " + t("not_met"));
  return h("td", { class: "muted" }, DASH);
}
function indName(i) { return LANG === "en" ? i.name_en : i.name_vi; }
function typeLabel(ty) { return ty ? t("type_" + ty.replace(/-/g, "_")) : DASH; }
function gapLabel(kind) { return kind ? t("gap_" + kind) : DASH; }
function statusLabel(st) { return st ? t("status_" + st) : DASH; }
function q() { return new URLSearchParams(location.search); }
function withLang(lang) { const p = q(); p.set("lang", lang); return location.pathname + "?" + p.toString(); }

class Unauthorized extends Error {}
async function api(path, opts) {
  const r = await fetch(path, Object.assign({ credentials: "same-origin" }, opts || {}));
  if (r.status === 401 && path !== "/api/login") throw new Unauthorized();
  let body = null;
  try { body = await r.json(); } catch (_) { body = null; }
  if (!r.ok) throw new Error((body && body.error) || r.status + " " + r.statusText);
  return body;
}
function post(path, data) {
  return api(path, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(data) });
}

const main = () => document.getElementById("main");
function show(...nodes) { main().replaceChildren(...nodes.flat().filter((n) => n !== null && n !== undefined)); }

function header(me) {
  const path = location.pathname;
  const link = (href, key, active) => h("a", { href, class: active ? "active" : null, id: "nav-" + key }, t(key));
  const year = q().get("year");
  const yq = year ? "?year=" + encodeURIComponent(year) : "";
  // replaceChildren writes a null as the text "null": the links of a logged-out header are left out.
  document.getElementById("top").replaceChildren(...[
    h("span", { class: "brand" }, t("app_title") + (me ? " — " + me.province_name : "")),
    me ? link("/" + yq, "nav_overview", path === "/" || path.startsWith("/units/")) : null,
    me ? link("/records" + yq, "nav_records", path.startsWith("/records")) : null,
    me ? h("a", { href: "/report/annual" + yq, id: "nav-annual", target: "_blank" }, t("nav_annual")) : null,
    LANG === "vi"
      ? h("a", { href: withLang("en"), id: "lang-switch", lang: "en" }, "English")
      : h("a", { href: withLang("vi"), id: "lang-switch", lang: "vi" }, "Tiếng Việt"),
    me ? h("span", { class: "muted-light" }, me.operator) : null,
    me ? h("button", { id: "logout", onclick: async () => { await post("/api/logout", {}); location.href = "/"; } }, t("logout")) : null,
  ].filter((n) => n !== null));
}

function loginPage(message) {
  header(null);
  const err = h("p", { class: "error", id: "login-error" }, message || "");
  const form = h("form", { class: "login", id: "login-form" },
    h("h1", {}, t("login_title")),
    h("label", {}, t("login_name"), h("input", { name: "name", id: "login-name", autocomplete: "username", required: "" })),
    h("label", {}, t("login_password"), h("input", { name: "password", id: "login-password", type: "password", autocomplete: "current-password", required: "" })),
    h("button", { type: "submit", id: "login-submit" }, t("login_submit")),
    err);
  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    err.textContent = "";
    const fd = new FormData(form);
    try {
      await post("/api/login", { name: fd.get("name"), password: fd.get("password") });
      location.reload();
    } catch (e) {
      err.textContent = e.message;
    }
  });
  show(form);
}

// ---- overview and unit drill-down -------------------------------------------------------------

function indicatorsTable(inds) {
  return h("table", { id: "indicators" },
    h("thead", {}, h("tr", {},
      h("th", {}, t("col_indicator_name")), h("th", {}, t("col_value")), h("th", {}, t("col_target")),
      h("th", {}, t("col_met")), h("th", {}, t("col_coverage")), h("th", {}, t("col_figures")))),
    h("tbody", {}, inds.map((i) => h("tr", { "data-id": i.id },
      h("td", {}, indName(i), i.provisional ? h("span", { class: "badge", title: t("provisional_hint") }, " " + t("provisional")) : null),
      h("td", { class: "value" }, pct(i.value)),
      h("td", { class: "num target" }, pct(i.target)),
      metCell(i.met),
      h("td", { class: "num coverage" }, i.coverage ? i.coverage.surveyed + "/" + i.coverage.total
        + " (" + pct(i.coverage.total ? i.coverage.surveyed / i.coverage.total : null) + ")" : DASH),
      h("td", { class: "num muted" }, i.numerator === null || i.numerator === undefined ? DASH
        : num(i.numerator) + " / " + num(i.denominator) + " " + (i.unit ? t("measure_" + i.unit.replace(/\W/g, "_")) : ""))))));
}

const SERIES = [["i1", "#0f5132"], ["i1_cs", "#6f42c1"], ["i4", "#fd7e14"], ["completeness", "#0d6efd"]];
function trendChart(trend) {
  const W = 640, H = 220, L = 40, R = 10, T = 10, B = 30;
  const years = trend.map((r) => r.year);
  const svg = s("svg", { id: "trend", viewBox: `0 0 ${W} ${H}`, width: "100%", role: "img", "aria-label": t("h_trend") });
  for (const p of [0, 0.25, 0.5, 0.75, 1]) {
    const y = T + (1 - p) * (H - T - B);
    svg.append(s("line", { x1: L, x2: W - R, y1: y, y2: y, stroke: "#e5e7eb" }), s("text", { x: 2, y: y + 4 }, pct(p)));
  }
  const x = (i) => years.length <= 1 ? (L + W - R) / 2 : L + i * (W - L - R) / (years.length - 1);
  years.forEach((yr, i) => svg.append(s("text", { x: x(i) - 14, y: H - 8 }, yr)));
  for (const [id, color] of SERIES) {
    const pts = [];
    trend.forEach((r, i) => {
      const ind = (r.indicators || []).find((z) => z.id === id);
      if (ind && ind.value !== null && ind.value !== undefined) pts.push([x(i), T + (1 - ind.value) * (H - T - B), ind.value, r.year]);
    });
    if (pts.length > 1) svg.append(s("polyline", { points: pts.map((p) => p[0] + "," + p[1]).join(" "), fill: "none", stroke: color, "stroke-width": 2 }));
    for (const p of pts) svg.append(s("circle", { cx: p[0], cy: p[1], r: 4, fill: color, "data-series": id, "data-year": p[3] }, s("title", {}, p[3] + ": " + pct(p[2]))));
    const tgt = trend.length ? (trend[trend.length - 1].indicators || []).find((z) => z.id === id) : null;
    if (tgt && tgt.target !== null && tgt.target !== undefined) {
      const y = T + (1 - tgt.target) * (H - T - B);
      svg.append(s("line", { x1: L, x2: W - R, y1: y, y2: y, stroke: color, "stroke-dasharray": "4 4", "stroke-width": 1 }));
    }
  }
  const names = {};
  for (const r of trend) for (const i of r.indicators || []) names[i.id] = indName(i);
  const legend = h("div", { class: "legend" }, SERIES.map(([id, color]) =>
    h("span", {}, h("i", { style: "background:" + color }), names[id] || id)), h("span", { class: "muted" }, t("trend_target_dashed")));
  return [trend.length ? svg : h("p", { class: "muted" }, t("no_data")), legend];
}

function completenessBlock(c) {
  return h("section", { id: "completeness" },
    h("h2", {}, t("h_completeness")),
    h("p", {},
      t("reported_units") + ": ", h("strong", { id: "reported-count" }, c.reported + "/" + c.units), " · ",
      t("on_time_units") + ": ", h("strong", {}, (c.on_time == null ? "—" : c.on_time) + "/" + c.units), " · ",
      t("deadline") + ": ", h("strong", { id: "deadline" }, c.deadline || DASH)),
    c.missing && c.missing.length
      ? [h("h3", {}, t("h_missing")), h("ul", { id: "missing" }, c.missing.map((m) =>
        h("li", {}, h("a", { href: "/units/" + encodeURIComponent(m.code) }, m.name), " (" + m.code + ")")))]
      : h("p", { class: "muted" }, t("none_missing")));
}

function unitsTable(report) {
  const y = "?year=" + report.year;
  const val = (u, id) => { const i = (u.indicators || []).find((z) => z.id === id); return i ? pct(i.value) : DASH; };
  return h("table", { id: "units" },
    h("thead", {}, h("tr", {}, h("th", {}, t("col_unit")), h("th", {}, t("col_unit_name")), h("th", {}, t("col_reported")),
      h("th", {}, t("col_on_time")), h("th", {}, t("col_first_report")), h("th", {}, "I1"), h("th", {}, t("col_coverage")))),
    h("tbody", {}, (report.units || []).map((u) => h("tr", { "data-code": u.code },
      h("td", {}, u.code),
      h("td", {}, h("a", { href: "/units/" + encodeURIComponent(u.code) + y }, u.name)),
      h("td", { class: u.reported ? "met-yes" : "met-no" }, yesNo(u.reported)),
      h("td", {}, yesNo(u.on_time)),
      h("td", {}, u.first_report || DASH),
      h("td", { class: "num" }, val(u, "i1")),
      h("td", { class: "num" }, val(u, "coverage"))))));
}

function exportsBlock(year, unit) {
  const p = new URLSearchParams({ year: String(year) });
  if (unit) p.set("unit", unit);
  const ps = "?" + p.toString();
  return h("section", { class: "exports", id: "exports" }, h("h2", {}, t("h_exports")),
    h("a", { href: "/export/indicators.csv" + ps, id: "export-indicators-csv" }, t("export_indicators_csv")),
    h("a", { href: "/export/indicators.xlsx" + ps, id: "export-indicators-xlsx" }, t("export_indicators_xlsx")),
    h("a", { href: "/export/records.csv" + ps, id: "export-records-csv" }, t("export_records_csv")),
    h("a", { href: "/export/records.xlsx" + ps, id: "export-records-xlsx" }, t("export_records_xlsx")),
    h("a", { href: "/export/annual-report.xlsx" + ps, id: "export-annual-xlsx" }, t("export_annual_xlsx")),
    h("a", { href: "/report/annual" + ps, id: "export-annual-html", target: "_blank" }, t("export_annual_html")));
}

function yearPicker(current, trend) {
  const years = new Set(trend.map((r) => r.year));
  years.add(current);
  years.add(new Date().getFullYear());
  const sel = h("select", { id: "year", onchange: (e) => { const p = q(); p.set("year", e.target.value); location.search = p.toString(); } },
    [...years].sort().map((y) => h("option", { value: y, selected: y === current ? "" : null }, y)));
  return h("label", { class: "noprint" }, t("year") + " ", sel);
}

function reportPage(data, unitCode) {
  const r = data.report;
  const plan = r.plan ? r.plan.name + (r.plan.deadline ? " · " + t("deadline") + " " + r.plan.deadline : "") : t("no_plan");
  show(
    h("h1", { id: "page-title" }, (unitCode ? t("unit_title") : t("overview_title")) + " " + r.year + " — " + r.scope.name),
    h("p", {}, yearPicker(r.year, data.trend || []), " ",
      h("span", { class: "muted" }, t("plan") + ": " + plan + " · " + t("as_of") + " " + r.as_of + " · " + t("basis") + ": "
        + (r.basis === "verified" ? t("basis_verified") : t("basis_submitted")))),
    unitCode ? h("p", {}, h("a", { href: "/" + "?year=" + r.year }, "← " + r.province_name), " · ",
      h("a", { href: "/records?unit=" + encodeURIComponent(unitCode) + "&year=" + r.year, id: "unit-records" }, t("unit_records"))) : null,
    h("section", {}, h("h2", {}, t("h_indicators")), indicatorsTable(r.indicators || [])),
    h("section", {}, h("h2", {}, t("h_trend")), trendChart(data.trend || [])),
    completenessBlock(r.completeness || { units: 0, reported: 0, on_time: 0, missing: [] }),
    (r.units || []).length ? h("section", {}, h("h2", {}, t("h_units")), unitsTable(r)) : null,
    (r.gaps || []).length || (r.notes || []).length ? h("section", { id: "notes" }, h("h2", {}, t("h_notes")),
      h("ul", {}, (r.notes || []).map((n) => h("li", {}, n)),
        (r.gaps || []).map((g) => h("li", {}, t("gap") + ": " + gapLabel(g.kind) + " — ",
          g.record ? h("a", { href: "/records/" + encodeURIComponent(g.record) }, g.name || g.record) : (g.name || ""),
          g.unit ? " (" + g.unit + ")" : "")))) : null,
    exportsBlock(r.year, unitCode));
}

// ---- records ----------------------------------------------------------------------------------

function recordSummary(v) {
  if (!v) return DASH;
  switch (v.type) {
    case "outlet": return (v.name || "") + " · " + t("kind_" + String(v.kind || "").replace(/-/g, "_"));
    case "market-survey": return num((v.nonbio_g_per_day || 0) / 1000) + " " + t("kg_per_day");
    case "retail-survey": return (v.gives_nonbio ? t("gives_nonbio") : t("no_nonbio"))
      + (v.nonbio_bags_per_day ? " · " + v.nonbio_bags_per_day + " " + t("bags_per_day") : "");
    case "campaign": return v.topic || "";
    default: return "";
  }
}
function derivedOf(r) {
  const v = (r.heads && r.heads[0] && r.heads[0].value) || {};
  const d = r.derived || {};
  return {
    unit: r.unit ?? d.unit ?? v.unit ?? null,
    year: r.year ?? d.year ?? v.year ?? null,
    date: r.date ?? d.date ?? v.date ?? null,
    status: (r.review && r.review.state) || d.status || "submitted",
  };
}

async function recordsPage() {
  const params = q();
  const [units, data] = await Promise.all([api("/api/units"), api("/api/records?" + params.toString())]);
  const sel = (name, opts) => h("select", { name, id: "f-" + name }, h("option", { value: "" }, t("any")),
    opts.map(([v, label]) => h("option", { value: v, selected: params.get(name) === v ? "" : null }, label)));
  const seen = new Set();
  const unitOpts = units.filter((u) => u.level !== "province" && !seen.has(u.code) && seen.add(u.code))
    .map((u) => [u.code, u.code + " — " + u.name]);
  const form = h("form", { class: "filters", method: "get", action: "/records", id: "filters" },
    h("label", {}, t("col_unit"), sel("unit", unitOpts)),
    h("label", {}, t("col_type"), sel("kind", ["outlet", "market-survey", "retail-survey", "campaign"].map((k) => [k, typeLabel(k)]))),
    h("label", {}, t("year"), h("input", { name: "year", id: "f-year", size: 5, value: params.get("year") || "" })),
    h("label", {}, t("col_status"), sel("status", ["submitted", "verified", "returned", "retracted"].map((k) => [k, statusLabel(k)]))),
    h("label", {}, t("col_conflict"), sel("conflict", [["true", t("yes")], ["false", t("no")]])),
    h("button", { type: "submit", id: "f-submit" }, t("filter")));
  const rows = data.records.map((r) => {
    const d = derivedOf(r);
    const st = r.retracted ? "retracted" : d.status;
    return h("tr", { "data-id": r.id },
      h("td", {}, h("a", { href: "/records/" + encodeURIComponent(r.id), class: "record-link" }, r.short_id)),
      h("td", {}, typeLabel(r.type)),
      h("td", {}, d.unit ? (r.unit_name || d.unit) + " (" + d.unit + ")" : DASH),
      h("td", {}, d.year ?? DASH),
      h("td", {}, d.date ?? DASH),
      h("td", {}, recordSummary(r.heads && r.heads[0] && r.heads[0].value)),
      h("td", {}, h("span", { class: "badge " + st }, statusLabel(st)), r.conflict ? h("span", { class: "badge conflict" }, " " + t("conflict")) : null),
      h("td", { class: "num" }, r.versions));
  });
  const exportQ = "?" + params.toString();
  show(
    h("h1", { id: "page-title" }, t("records_title")),
    form,
    h("p", { class: "muted", id: "records-count" }, data.count + " " + t("records_found")),
    h("table", { id: "records" },
      h("thead", {}, h("tr", {}, h("th", {}, t("col_short_id")), h("th", {}, t("col_type")), h("th", {}, t("col_unit")),
        h("th", {}, t("col_year")), h("th", {}, t("col_date")), h("th", {}, t("col_summary")), h("th", {}, t("col_status")),
        h("th", {}, t("col_versions")))),
      h("tbody", {}, rows)),
    h("section", { class: "exports" }, h("h2", {}, t("h_exports")),
      h("a", { href: "/export/records.csv" + exportQ, id: "export-records-csv" }, t("export_records_csv")),
      h("a", { href: "/export/records.xlsx" + exportQ, id: "export-records-xlsx" }, t("export_records_xlsx"))),
    dropForm());
}

// An office's drop file (baobi-agent drop export), uploaded and merged as `baobi-hub drop import` does.
function dropForm() {
  const file = h("input", { type: "file", id: "drop-file" });
  const msg = h("p", { id: "drop-msg" });
  const send = async (ev) => {
    ev.preventDefault();
    const f = file.files && file.files[0];
    if (!f) return;
    try {
      const r = await api("/api/drop", { method: "POST", headers: { "content-type": "application/octet-stream" }, body: f });
      msg.textContent = t("drop_done").replace("{label}", r.label).replace("{entries}", r.entries).replace("{new}", r.new);
      msg.className = "ok";
    } catch (e) {
      if (e instanceof Unauthorized) { location.href = "/"; return; }
      msg.textContent = e.message;
      msg.className = "error";
    }
  };
  return h("section", { class: "noprint", id: "drop" }, h("h2", {}, t("h_drop")),
    h("form", { id: "drop-form", onsubmit: send }, file, " ", h("button", { type: "submit", id: "drop-submit" }, t("drop_upload"))),
    msg);
}

// One field of a record's value as people read it: labelled from the dictionary (field_NAME), with
// words for codes (kinds, rounds, certifications), kg for grams, yes/no for booleans.
function fieldText(k, x, v) {
  if (x === null || x === undefined || x === "") return DASH;
  if (typeof x === "boolean") return yesNo(x);
  const word = (prefix, w) => t(prefix + String(w).replace(/-/g, "_"));
  switch (k) {
    case "type": return typeLabel(x);
    case "kind": return v.type === "campaign" ? word("campaign_kind_", x) : word("kind_", x);
    case "round": return word("round_", x);
    case "nonbio_g_per_day": case "eco_g_per_day": return num(x / 1000) + " " + t("kg_per_day");
    case "certifications":
      return x.length ? x.map((c) => word("cert_", c.kind) + " " + c.from + (c.to ? " → " + c.to : "")).join("; ") : DASH;
    default: return typeof x === "object" ? JSON.stringify(x) : String(x);
  }
}
function valueTable(v) {
  if (!v) return h("p", { class: "muted" }, DASH);
  return h("table", { class: "kv" }, h("tbody", {}, Object.entries(v).map(([k, x]) =>
    h("tr", { "data-field": k }, h("th", {}, t("field_" + k)), h("td", {}, fieldText(k, x, v))))));
}

async function recordPage(id) {
  const data = await api("/api/records/" + encodeURIComponent(id));
  const r = data.record;
  const d = derivedOf(r);
  const st = r.retracted ? "retracted" : d.status;
  const review = r.review || null;
  const msg = h("p", { id: "review-msg" });
  const reason = h("input", { id: "review-reason", placeholder: t("review_reason"), size: 40 });
  const decide = async (decision) => {
    msg.className = ""; msg.textContent = "";
    try {
      await post("/api/records/" + encodeURIComponent(r.id) + "/review", { decision, reason: reason.value });
      location.reload();
    } catch (e) { msg.className = "error"; msg.textContent = e.message; }
  };
  show(
    h("h1", { id: "page-title" }, t("record_title") + " " + r.short_id),
    h("p", {}, h("a", { href: "/records" }, "← " + t("nav_records"))),
    h("section", {}, h("table", { id: "record-facts" }, h("tbody", {},
      h("tr", {}, h("th", {}, t("col_type")), h("td", {}, typeLabel(r.type))),
      h("tr", {}, h("th", {}, t("col_unit")), h("td", {}, d.unit ? (r.unit_name || "") + " (" + d.unit + ")" : DASH)),
      h("tr", {}, h("th", {}, t("col_year")), h("td", {}, d.year ?? DASH)),
      h("tr", {}, h("th", {}, t("col_date")), h("td", {}, d.date ?? DASH)),
      h("tr", {}, h("th", {}, t("col_status")), h("td", { id: "record-status" }, statusLabel(st),
        review && review.reason ? " — " + review.reason : "",
        review && review.at ? h("span", { class: "muted" }, " (" + review.at + (review.by ? ", " + String(review.by).slice(0, 8) : "") + ")") : null)),
      h("tr", {}, h("th", {}, t("col_conflict")), h("td", {}, yesNo(r.conflict))),
      h("tr", {}, h("th", {}, t("col_versions")), h("td", {}, r.versions)),
      h("tr", {}, h("th", {}, t("col_id")), h("td", {}, h("code", {}, r.id)))))),
    h("section", {}, h("h2", {}, r.conflict ? t("h_heads_conflict") : t("h_current")),
      (r.heads || []).map((hd) => h("div", {}, r.conflict ? h("p", { class: "muted" }, hd.version) : null,
        hd.retracted ? h("p", {}, t("status_retracted") + ": " + (hd.reason || "")) : valueTable(hd.value)))),
    h("section", {}, h("h2", {}, t("h_history")),
      h("table", { id: "history" },
        h("thead", {}, h("tr", {}, h("th", {}, t("col_time")), h("th", {}, t("col_action")), h("th", {}, t("col_author")),
          h("th", {}, t("col_version")), h("th", {}, t("col_summary")))),
        h("tbody", {}, data.history.map((v) => h("tr", { class: v.head ? "head" : "" },
          h("td", {}, v.time),
          h("td", {}, t("action_" + v.action), v.head ? h("span", { class: "badge" }, " " + t("current")) : null),
          h("td", {}, v.author_label || String(v.author).slice(0, 8)),
          h("td", {}, h("code", {}, String(v.version).slice(0, 8) + "-" + String(v.version).split("-").pop())),
          h("td", {}, v.action === "retracted" ? (v.reason || "") : recordSummary(v.value))))))),
    h("section", { class: "noprint", id: "review" }, h("h2", {}, t("h_review")),
      h("button", { id: "review-verify", onclick: () => decide("verify") }, t("review_verify")), " ",
      reason, " ",
      h("button", { id: "review-return", onclick: () => decide("return") }, t("review_return")),
      msg));
}

// ---- start ------------------------------------------------------------------------------------

async function start() {
  let me;
  try {
    me = await api("/api/me");
  } catch (e) {
    if (e instanceof Unauthorized) return loginPage();
    return show(h("p", { class: "error" }, e.message));
  }
  header(me);
  const path = location.pathname;
  try {
    if (path === "/") {
      const y = q().get("year");
      reportPage(await api("/api/overview" + (y ? "?year=" + encodeURIComponent(y) : "")), null);
    } else if (path.startsWith("/units/")) {
      const code = decodeURIComponent(path.slice(7));
      const y = q().get("year");
      reportPage(await api("/api/units/" + encodeURIComponent(code) + (y ? "?year=" + encodeURIComponent(y) : "")), code);
    } else if (path === "/records") {
      await recordsPage();
    } else if (path.startsWith("/records/")) {
      await recordPage(decodeURIComponent(path.slice(9)));
    } else {
      show(h("p", {}, t("not_found")));
    }
    document.body.setAttribute("data-ready", "1");
  } catch (e) {
    if (e instanceof Unauthorized) return loginPage();
    show(h("p", { class: "error", id: "page-error" }, e.message));
    document.body.setAttribute("data-ready", "1");
  }
}
document.title = t("app_title");
start();
