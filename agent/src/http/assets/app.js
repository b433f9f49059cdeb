// baobi office app: every screen of the office's own app, drawn from the agent's JSON API.
// No framework, no build step, nothing from outside the agent. Routes live in the hash (#/records),
// so the agent serves one page. Every visible string comes from vi.json / en.json through t(key);
// the language is the user's choice, remembered in localStorage ("baobi.lang"), Vietnamese by default.
"use strict";

// ---- language -----------------------------------------------------------------------------------

let LANG = localStorage.getItem("baobi.lang") === "en" ? "en" : "vi";
let DICT = {};
function t(k, vars) {
  let s = DICT[k] !== undefined ? DICT[k] : k;
  if (vars) for (const [n, v] of Object.entries(vars)) s = s.split("{" + n + "}").join(String(v));
  return s;
}
async function loadLang() {
  const r = await fetch("/assets/" + LANG + ".json", { credentials: "same-origin" });
  DICT = await r.json();
  document.documentElement.lang = LANG;
}
async function setLang(l) {
  LANG = l;
  localStorage.setItem("baobi.lang", l);
  await loadLang();
  route();
}

// ---- small helpers ------------------------------------------------------------------------------

// Element builder: h("td", {class: "x"}, "text", child, ...). Text is always set as text, never HTML.
function h(tag, attrs, ...kids) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === null || v === undefined || v === false) continue;
    if (k.startsWith("on")) el.addEventListener(k.slice(2), v);
    else if (k === "value") el.value = v;
    else el.setAttribute(k, v === true ? "" : v);
  }
  for (const c of kids.flat(Infinity)) {
    if (c === null || c === undefined || c === false) continue;
    el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return el;
}
const DASH = "—";
const main = () => document.getElementById("main");
function show(...nodes) { main().replaceChildren(...nodes.flat(Infinity).filter((n) => n !== null && n !== undefined && n !== false)); }
function num(v) {
  if (v === null || v === undefined || v === "") return DASH;
  const s = String(v);
  return LANG === "vi" ? s.replace(".", ",") : s;
}
function pct(v) {
  if (v === null || v === undefined) return DASH;
  const x = (v * 100).toFixed(1);
  return LANG === "vi" ? x.replace(".", ",") + " %" : x + "%";
}
function yesNo(b) { return b === true ? t("yes") : b === false ? t("no") : DASH; }
function when(s) {
  if (!s) return DASH;
  const d = new Date(s);
  if (isNaN(d.getTime())) return String(s);
  const p = (n) => String(n).padStart(2, "0");
  return p(d.getDate()) + "/" + p(d.getMonth() + 1) + "/" + d.getFullYear() + " " + p(d.getHours()) + ":" + p(d.getMinutes());
}
function kindLabel(k) { return k ? t("kind_" + String(k).replace(/-/g, "_")) : DASH; }
function typeLabel(k) { return k ? t("type_" + String(k).replace(/-/g, "_")) : DASH; }
function reviewLabel(s) { return t("review_" + (s || "submitted")); }
function pick(o, ...names) {
  for (const n of names) if (o && o[n] !== undefined && o[n] !== null) return o[n];
  return undefined;
}
function today() {
  const d = new Date();
  const p = (n) => String(n).padStart(2, "0");
  return d.getFullYear() + "-" + p(d.getMonth() + 1) + "-" + p(d.getDate());
}

// ---- the API ------------------------------------------------------------------------------------

class ApiError extends Error {
  constructor(status, body) {
    super((body && body.error) || String(status));
    this.status = status;
    this.body = body || {};
    this.field = this.body.field || null;
  }
}
async function api(path, opts) {
  let r;
  try {
    r = await fetch(path, Object.assign({ credentials: "same-origin" }, opts || {}));
  } catch (e) {
    throw new ApiError(0, { error: t("err_agent_unreachable") });
  }
  let body = null;
  const text = await r.text();
  try { body = text ? JSON.parse(text) : null; } catch (_) { body = { error: text }; }
  if (!r.ok) throw new ApiError(r.status, body);
  return body;
}
function send(method, path, data) {
  return api(path, { method, headers: { "content-type": "application/json" }, body: JSON.stringify(data) });
}
const post = (p, d) => send("POST", p, d || {});
function list(x, ...names) {
  if (Array.isArray(x)) return x;
  const v = pick(x, ...names);
  return Array.isArray(v) ? v : [];
}

// ---- cached lookups -----------------------------------------------------------------------------

let UNITS = null;
async function units() {
  if (!UNITS) UNITS = list(await api("/api/units"), "units");
  return UNITS;
}
function unitName(code) {
  const u = (UNITS || []).find((x) => x.code === code);
  return u ? u.name : code;
}
async function outlets(params) {
  const p = new URLSearchParams(params || {});
  return list(await api("/api/outlets" + (p.toString() ? "?" + p : "")), "outlets");
}

// ---- header, hub line, router -------------------------------------------------------------------

let STATUS = null;
const NAV = [
  ["#/", "nav_home"], ["#/facilities", "nav_facilities"], ["#/new/market", "nav_new_market"],
  ["#/new/retail", "nav_new_retail"], ["#/new/campaign", "nav_new_campaign"], ["#/records", "nav_records"],
  ["#/import", "nav_import"], ["#/sync", "nav_sync"], ["#/print", "nav_print"], ["#/devices", "nav_devices"],
];
function header(enrolled, lan) {
  const cur = "#" + (location.hash.slice(1).split("?")[0] || "/");
  const links = enrolled && !lan ? NAV : enrolled ? NAV.filter(([, k]) => k !== "nav_devices") : [];
  document.title = t("app_title");
  document.getElementById("top").replaceChildren(
    h("a", { class: "brand", href: "#/" }, "baobi" + (STATUS && STATUS.unit_name ? " · " + STATUS.unit_name : "")),
    h("nav", {}, ...links.map(([href, k]) => h("a", { href, id: "nav-" + k.slice(4), class: cur === href || (href !== "#/" && cur.startsWith(href)) ? "active" : null }, t(k)))),
    h("button", { id: "lang-switch", lang: LANG === "vi" ? "en" : "vi", onclick: () => setLang(LANG === "vi" ? "en" : "vi") },
      LANG === "vi" ? "English" : "Tiếng Việt"));
}
function hubLine(st) {
  const el = document.getElementById("hubline");
  if (!st || st.enrolled === false) { el.hidden = true; return; }
  const reach = pick(st, "hub_reachable", "hub_answers", "reachable");
  el.hidden = false;
  if (reach === false) {
    el.className = "hubline down";
    el.id = "hubline";
    el.textContent = t("hub_down", { addr: st.hub_addr || "" }) + (st.pending ? " " + t("hub_down_pending", { n: st.pending }) : "");
  } else if (reach === true) {
    el.className = "hubline ok";
    el.textContent = t("hub_up") + (st.last_sync ? " · " + t("last_sync") + ": " + when(st.last_sync) : "");
  } else {
    el.className = "hubline";
    el.textContent = t("hub_unknown");
  }
}
async function refreshStatus() {
  STATUS = await api("/api/status");
  return STATUS;
}

const ROUTES = [
  [/^\/$/, homePage],
  [/^\/facilities$/, facilitiesPage],
  [/^\/new\/(market|retail|campaign)$/, (m, q) => formPage(m[1], q)],
  [/^\/records$/, (m, q) => recordsPage(q)],
  [/^\/records\/([^/]+)$/, (m) => recordPage(decodeURIComponent(m[1]))],
  [/^\/records\/([^/]+)\/correct$/, (m) => formPage("correct", new URLSearchParams({ id: decodeURIComponent(m[1]) }))],
  [/^\/import$/, importPage],
  [/^\/sync$/, syncPage],
  [/^\/print$/, printMenu],
  [/^\/print\/form$/, printForm],
  [/^\/print\/year$/, (m, q) => printYear(q)],
  [/^\/devices$/, devicesPage],
];

let ROUTING = 0;
async function route() {
  const mine = ++ROUTING;
  document.body.removeAttribute("data-ready");
  const [path, qs] = (location.hash.slice(1) || "/").split("?");
  const q = new URLSearchParams(qs || "");
  let st;
  try {
    st = await refreshStatus();
  } catch (e) {
    if (e.status === 403 && e.body.pairing_required) {
      // A device on the office LAN that is not paired yet: the pairing page only.
      header(false, true);
      hubLine(null);
      return done(mine, pairPage());
    }
    if (e.status === 403 && e.body.session === false && !sessionStorage.getItem("baobi.reloaded")) {
      // The session cookie expired (the agent restarted): the page gets a new one.
      sessionStorage.setItem("baobi.reloaded", "1");
      return location.reload();
    }
    header(false, false);
    return done(mine, show(h("p", { class: "error", id: "page-error" }, e.message)));
  }
  if (mine !== ROUTING) return;
  sessionStorage.removeItem("baobi.reloaded");
  const enrolled = st.enrolled !== false;
  const lan = !["127.0.0.1", "localhost", "[::1]"].includes(location.hostname);
  header(enrolled, lan);
  hubLine(st);
  if (!enrolled) return done(mine, enrollPage());
  for (const [re, fn] of ROUTES) {
    const m = path.match(re);
    if (m) {
      try {
        await fn(m, q);
      } catch (e) {
        show(h("p", { class: "error", id: "page-error" }, e.message));
      }
      return done(mine);
    }
  }
  show(h("p", {}, t("not_found")));
  done(mine);
}
function done(mine) { if (mine === ROUTING) document.body.setAttribute("data-ready", "1"); }
window.addEventListener("hashchange", route);

// ---- first run: enrollment ----------------------------------------------------------------------

function enrollPage() {
  const err = h("p", { class: "error", id: "enroll-error" });
  const token = h("textarea", { id: "enroll-token", name: "token", required: true, placeholder: "baobi1.…", autocomplete: "off", spellcheck: "false" });
  const label = h("input", { id: "enroll-label", name: "label", placeholder: t("enroll_label_hint") });
  const btn = h("button", { class: "primary", type: "submit", id: "enroll-submit" }, t("enroll_submit"));
  const form = h("form", { class: "enroll", id: "enroll-form" },
    h("h1", { id: "page-title" }, t("enroll_title")),
    h("p", {}, t("enroll_intro")),
    h("label", { class: "field" }, h("span", {}, t("enroll_token")), token),
    h("label", { class: "field" }, h("span", {}, t("enroll_label")), label),
    h("div", { class: "actions" }, btn), err);
  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    err.textContent = "";
    btn.disabled = true;
    btn.textContent = t("enroll_working");
    try {
      const r = await post("/api/enroll", { token: token.value.trim(), label: label.value.trim() || undefined });
      const st = await refreshStatus();
      header(true, false);
      hubLine(st);
      show(h("section", { id: "enrolled" },
        h("h1", { id: "page-title" }, t("enrolled_title")),
        h("p", {}, t("enrolled_unit") + ": ", h("strong", { id: "enrolled-unit" }, (pick(r, "unit_name") || st.unit_name || "") + " (" + (pick(r, "unit") || st.unit || "") + ")")),
        h("p", {}, t("enrolled_hub") + ": ", h("strong", { id: "enrolled-hub" }, pick(r, "hub_addr", "hub") || st.hub_addr || DASH)),
        pick(r, "hub_pin", "pin", "hub_key") ? h("p", { class: "muted" }, t("enrolled_pin") + ": ", h("code", {}, pick(r, "hub_pin", "pin", "hub_key"))) : null,
        h("p", {}, h("a", { href: "#/", id: "enrolled-home" }, t("enrolled_go")))));
    } catch (e) {
      err.textContent = e.message;
      btn.disabled = false;
      btn.textContent = t("enroll_submit");
    }
  });
  show(form);
}

// ---- home ---------------------------------------------------------------------------------------

function indicatorsTable(inds) {
  const name = (i) => (LANG === "en" ? pick(i, "name_en", "name") : pick(i, "name_vi", "name")) || i.id;
  return h("div", { class: "table-wrap" }, h("table", { id: "indicators" },
    h("thead", {}, h("tr", {}, h("th", {}, t("col_indicator")), h("th", {}, t("col_value")), h("th", {}, t("col_target")),
      h("th", {}, t("col_met")), h("th", { class: "hide-narrow" }, t("col_coverage")))),
    h("tbody", {}, inds.map((i) => h("tr", { "data-id": i.id },
      h("td", {}, name(i)),
      h("td", { class: "num value" }, pct(i.value)),
      h("td", { class: "num" }, pct(i.target)),
      h("td", { class: i.met === true ? "ok" : i.met === false ? "error" : "muted" }, i.met === true ? "✓ " + t("met") : i.met === false ? "✗ " + t("not_met") : DASH),
      h("td", { class: "num hide-narrow" }, i.coverage ? i.coverage.surveyed + "/" + i.coverage.total : DASH))))));
}

async function homePage() {
  const st = STATUS;
  const returned = list(pick(st, "returned", "returned_for_correction", "todo") || []);
  const plan = pick(st, "plan") || {};
  const deadline = pick(st, "deadline", "plan_deadline") || pick(plan, "deadline_date", "deadline");
  const days = pick(st, "days_left") ?? pick(plan, "days_left");
  const office = pick(st, "indicators", "office_indicators", "office_view");
  const inds = Array.isArray(office) ? office : list(office || {}, "indicators");
  const reach = pick(st, "hub_reachable", "hub_answers", "reachable");
  const iso = /^(\d{4})-(\d{2})-(\d{2})$/.exec(deadline || "");
  const deadlineText = iso ? iso[3] + "/" + iso[2] + "/" + iso[1]
    : Array.isArray(deadline) ? String(deadline[1]).padStart(2, "0") + "/" + String(deadline[0]).padStart(2, "0") : (deadline || DASH);
  show(
    h("h1", { id: "page-title" }, t("home_title") + " — " + (st.unit_name || "")),
    h("div", { class: "cards" },
      h("div", { class: "card", id: "card-pending" }, h("div", {}, t("pending")), h("div", { class: "big", id: "pending" }, st.pending ?? 0),
        h("div", { class: "muted" }, st.pending ? t("pending_hint") : t("pending_none"))),
      h("div", { class: "card", id: "card-sync" }, h("div", {}, t("last_sync")), h("div", { class: "big", id: "last-sync" }, st.last_sync ? when(st.last_sync) : t("never")),
        h("div", { id: "hub-now", class: reach === false ? "error" : reach === true ? "ok" : "muted" },
          reach === false ? t("hub_now_down") : reach === true ? t("hub_now_up") : t("hub_unknown")),
        st.last_error ? h("div", { class: "muted", id: "last-error" }, t("last_error") + ": " + st.last_error) : null),
      h("div", { class: "card", id: "card-deadline" }, h("div", {}, t("deadline")), h("div", { class: "big", id: "deadline" }, deadlineText),
        h("div", { id: "days-left", class: days !== undefined && days < 14 ? "warn" : "muted" },
          days === undefined || days === null ? t("no_plan") : days >= 0 ? t("days_left", { n: days }) : t("days_late", { n: -days })))),
    h("section", { id: "returned" },
      h("h2", {}, t("h_returned")),
      returned.length ? h("ul", { id: "returned-list" }, returned.map((r) => h("li", { "data-id": r.id },
        h("strong", {}, pick(r, "outlet_name", "name") || typeLabel(r.type)), " · " + (r.date || "") + " — ",
        h("span", { class: "reason" }, pick(r, "review_reason", "reason") || ""), " ",
        h("a", { href: "#/records/" + encodeURIComponent(r.id) + "/correct", class: "fix" }, t("fix_it")))))
        : h("p", { class: "muted", id: "returned-none" }, t("returned_none"))),
    h("section", { id: "office-view" },
      h("h2", {}, t("h_office_view")),
      h("p", { class: "muted" }, t("office_view_note")),
      inds.length ? indicatorsTable(inds) : h("p", { class: "muted" }, t("no_data"))),
    h("section", { class: "noprint" }, h("a", { href: "#/new/market" }, t("nav_new_market")), " · ",
      h("a", { href: "#/new/retail" }, t("nav_new_retail")), " · ", h("a", { href: "#/sync" }, t("nav_sync"))));
  // Nothing known about the hub, or only from over a minute ago: ask the agent to try now, so that
  // "whether the hub answers now" is now.
  const last = st.last_attempt && Date.parse(st.last_attempt.at);
  if (reach === undefined || reach === null || !last || Date.now() - last > 60000) {
    try { STATUS = await api("/api/status?probe=true"); liveUpdate(STATUS); } catch (_) { /* the periodic status tells */ }
  }
}

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

// ---- form plumbing: fields, errors at the field -------------------------------------------------

function fieldBox(id, label, input, required, hint) {
  input.id = id;
  const err = h("div", { class: "field-error", id: id + "-error", role: "alert" });
  return h("label", { class: "field", "data-field": input.name, for: id },
    h("span", {}, label, required ? h("span", { class: "req" }, " *") : null), input,
    hint ? h("span", { class: "field-hint" }, hint) : null, err);
}
function clearErrors(form) {
  for (const f of form.querySelectorAll(".field.has-error")) f.classList.remove("has-error");
  for (const e of form.querySelectorAll(".field-error")) e.textContent = "";
}
// Puts the API's message at the field it names (400 {"error", "field"}); else under the form.
const FIELD_ALIAS = { nonbio_g_per_day: "nonbio_kg", eco_g_per_day: "eco_kg", nonbio_bags_per_day: "nonbio_bags", eco_bags_per_day: "eco_bags", unit: "commune", market_class: "class", label: "label" };
function showError(form, e, msg) {
  let field = e.field;
  if (field) {
    field = String(field).replace(/-/g, "_");
    let box = form.querySelector('.field[data-field="' + field + '"]');
    if (!box && FIELD_ALIAS[field]) box = form.querySelector('.field[data-field="' + FIELD_ALIAS[field] + '"]');
    if (!box && field === "commune") box = form.querySelector('.field[data-field="unit"]');
    if (box) {
      box.classList.add("has-error");
      box.querySelector(".field-error").textContent = e.message;
      const input = box.querySelector("input, select, textarea");
      if (input) input.focus();
      msg.className = "error";
      msg.textContent = t("fix_marked");
      return;
    }
  }
  msg.className = "error";
  msg.textContent = e.message;
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
      h("td", { class: "sent" }, r.synced ? h("span", { class: "badge sent" }, t("sent")) : h("span", { class: "badge unsent" }, t("not_sent"))))))));
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
      h("tr", {}, h("th", {}, t("col_sent")), h("td", { id: "record-sent" }, s.synced ? t("sent") : t("not_sent"))),
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

// ---- start --------------------------------------------------------------------------------------

// The hub line (and Home's cards) follow the agent's status every few seconds: the hub going away or
// coming back shows without a reload.
setInterval(async () => {
  if (document.hidden || !STATUS || STATUS.enrolled === false) return;
  try { liveUpdate(await refreshStatus()); } catch (_) { /* the next tick tries again */ }
}, 4000);
// Puts a fresh status into the hub line and Home's cards, where shown.
function liveUpdate(st) {
  hubLine(st);
  const now = document.getElementById("hub-now");
  if (now) {
    const reach = pick(st, "hub_reachable", "hub_answers", "reachable");
    now.className = reach === false ? "error" : reach === true ? "ok" : "muted";
    now.textContent = reach === false ? t("hub_now_down") : reach === true ? t("hub_now_up") : t("hub_unknown");
  }
  const pend = document.getElementById("pending");
  if (pend) pend.textContent = st.pending ?? 0;
  const ls = document.getElementById("last-sync");
  if (ls) ls.textContent = st.last_sync ? when(st.last_sync) : t("never");
}

loadLang().then(route, (e) => show(h("p", { class: "error" }, String(e))));
