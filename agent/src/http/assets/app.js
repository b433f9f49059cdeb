// Placeholder: the ui helper replaces this with the office app's pages.
(async function () {
  const el = document.getElementById("app");
  const r = await fetch("/api/status");
  el.textContent = JSON.stringify(await r.json(), null, 2);
})();
