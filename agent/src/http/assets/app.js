// baobi office app, shell: the header and the hub's line, the router (routes live in the hash, so the
// agent serves one page), first-run enrollment, Home, and the start. Loaded last, after core.js,
// forms.js and records.js. Every visible string comes from vi.json / en.json through t(key); the
// language is the user's choice, remembered in localStorage ("baobi.lang"), Vietnamese by default.
"use strict";

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
        h("div", { class: "muted" }, st.pending ? t("pending_hint") : t("pending_none")),
        h("div", { id: "where-held" }, t("at_hub_n") + ": ", h("strong", { id: "at-hub" }, st.at_hub ?? 0), " · ",
          t("at_relay_n") + ": ", h("strong", { id: "at-relay" }, st.at_relay ?? 0))),
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
  const atHub = document.getElementById("at-hub");
  if (atHub) atHub.textContent = st.at_hub ?? 0;
  const atRelay = document.getElementById("at-relay");
  if (atRelay) atRelay.textContent = st.at_relay ?? 0;
  const ls = document.getElementById("last-sync");
  if (ls) ls.textContent = st.last_sync ? when(st.last_sync) : t("never");
}

loadLang().then(route, (e) => show(h("p", { class: "error" }, String(e))));
