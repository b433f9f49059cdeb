// baobi office app, core: the language, the element builder and formatting helpers, the API client,
// cached lookups (units, outlets), the form plumbing that puts the API's errors at their field, and the
// indicators table. Loaded first; forms.js, records.js and app.js build on it. No framework, no build
// step, nothing from outside the agent.
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

// ---- indicators (Home and the printed year) ---------------------------------------------------------

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
