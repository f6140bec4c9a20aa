// The review page: the queue on the left, the selected entry on the map.
// - Everything shown that came from the feed or a provider (labels, clusters, place names, notes)
//   is set as text, never as markup; the Content-Security-Policy allows no inline script.
// - The token: the server keeps the printed URL's token in an HttpOnly cookie; the page takes it out
//   of the address bar and never holds it. Writes carry the page's own header beside the cookie.
// - Undo reverts the last placement this tab made, by its number in the database's trail (kept in
//   this tab's sessionStorage, so a reload or a restart of the server keeps it); the server refuses
//   it if the entry changed since.
"use strict";
const el = (id) => document.getElementById(id);
const UNDO = "fleettickets.review.placements";

(function forgetToken() {
  const url = new URL(location.href);
  if (url.searchParams.has("token")) {
    url.searchParams.delete("token");
    history.replaceState(history.state, "", url.pathname + url.search + url.hash);
  }
})();

const mapEl = el("map");
const guardKm = Number(mapEl.dataset.guardKm);
const map = L.map(mapEl).setView([0.02, 37.9], 6);
if (mapEl.dataset.tiles) {
  // The page works without tiles: the points and the guard circle are drawn all the same.
  L.tileLayer(mapEl.dataset.tiles, { maxZoom: 19, attribution: "© OpenStreetMap contributors" }).addTo(map);
}
const layer = L.layerGroup().addTo(map);
let entries = [];
let selected = null;
let pending = null;
let pendingMarker = null;

async function api(path, body) {
  const init = { headers: {} };
  if (body !== undefined) {
    init.method = "POST";
    init.headers["X-Requested-By"] = "fleettickets-review";
    init.headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  const response = await fetch(path, init);
  const data = await response.json();
  if (!response.ok) throw new Error(data.error || response.statusText);
  return data;
}

// An element holding text only.
function text(tag, content, className) {
  const node = document.createElement(tag);
  node.textContent = content;
  if (className) node.className = className;
  return node;
}

function say(message, error = false) {
  el("status").textContent = message;
  el("status").className = error ? "error" : "";
}

function myPlacements() {
  return JSON.parse(sessionStorage.getItem(UNDO) || "[]");
}

function remember(placements) {
  sessionStorage.setItem(UNDO, JSON.stringify(placements));
  el("undo").disabled = placements.length === 0;
}

function why(e) {
  return {
    not_found: "not found", rejected: "only beyond the guard", error: "provider error",
    codes_only: "network codes only", match: "reused, unconfirmed", far: "far from the cluster's places",
  }[e.reason] || e.reason;
}

async function load(keepKey) {
  const data = await api("/api/queue");
  entries = data.entries;
  remember(myPlacements());
  const list = el("queue");
  list.replaceChildren();
  entries.forEach((e, i) => {
    const li = document.createElement("li");
    li.dataset.key = e.key;
    const notes = [e.cluster, why(e), e.detail].filter(Boolean).join(" · ");
    li.append(text("span", String(e.tickets), "count"), text("b", `${i + 1}. ${e.place}`), text("div", notes, "why"));
    li.addEventListener("click", () => select(e.key));
    list.append(li);
  });
  say(entries.length ? `${entries.length} place(s) to review` : "nothing to review");
  const next = entries.find((e) => e.key === keepKey) || entries[0];
  if (next) await select(next.key); else layer.clearLayers();
}

async function select(key) {
  selected = entries.find((e) => e.key === key);
  pending = null;
  el("confirm").disabled = true;
  document.querySelectorAll("#queue li").forEach((li) => li.classList.toggle("selected", li.dataset.key === key));
  layer.clearLayers();
  pendingMarker = null;
  const e = selected;
  const shown = [];
  if (e.cluster_latitude !== null) {
    const centre = [e.cluster_latitude, e.cluster_longitude];
    L.circle(centre, { radius: guardKm * 1000, color: "#888", fill: false, dashArray: "6", interactive: false }).addTo(layer);
    // Only candidates take clicks: a click anywhere else is a placement.
    L.circleMarker(centre, { radius: 7, color: "#000", fillOpacity: 0.6, interactive: false }).addTo(layer);
    shown.push(centre);
  }
  e.candidates.forEach((c) => {
    const pick = () => propose(c.lat, c.lng, `candidate ${c.name}`);
    L.circleMarker([c.lat, c.lng], { radius: 8, color: "#e65100" }).bindTooltip(text("span", `${c.name} (${c.km} km)`))
      .on("click", pick).addTo(layer);
    shown.push([c.lat, c.lng]);
  });
  if (e.latitude !== null) {
    L.circleMarker([e.latitude, e.longitude], { radius: 6, color: "#2e7d32", interactive: false }).addTo(layer);
    shown.push([e.latitude, e.longitude]);
  }
  if (shown.length) map.fitBounds(L.latLngBounds(shown).pad(0.1), { maxZoom: 11, animate: false });
  say(`${e.place} (${e.cluster}): ${e.tickets} open ticket(s), ${why(e)}. Click the map or a candidate, then confirm.`);
  const data = await api(`/api/tickets?key=${encodeURIComponent(key)}`);
  if (selected !== e) return; // another entry was chosen meanwhile
  data.tickets.forEach((t) => {
    if (t.lat !== null) L.circleMarker([t.lat, t.lng], { radius: 3, color: "#1565c0", interactive: false }).addTo(layer);
  });
}

function propose(lat, lng, what) {
  if (!selected) return;
  pending = { key: selected.key, lat, lng };
  if (pendingMarker) pendingMarker.remove();
  pendingMarker = L.circleMarker([lat, lng], { radius: 9, color: "#c2185b", interactive: false }).addTo(layer);
  el("confirm").disabled = false;
  say(`${selected.place}: ${what || "here"} at ${lat.toFixed(5)}, ${lng.toFixed(5)}: confirm?`);
}

map.on("click", (ev) => propose(ev.latlng.lat, ev.latlng.lng));

el("confirm").addEventListener("click", async () => {
  if (!pending) return;
  try {
    const done = await api("/api/place", pending);
    remember([...myPlacements(), done.placement]);
    const index = entries.findIndex((e) => e.key === pending.key);
    const next = entries[index + 1];
    await load(next && next.key);
    say(`placed: ${done.moved} ticket(s) moved (placement #${done.placement})`);
  } catch (err) {
    say(err.message, true);
  }
});

el("undo").addEventListener("click", async () => {
  const placements = myPlacements();
  const last = placements.pop();
  if (last === undefined) return;
  remember(placements); // tried once: reverted, or refused because the entry changed since
  try {
    const done = await api("/api/revert", { placement: last });
    await load(done.key);
    say(`undone: placement #${last} reverted, ${done.moved} ticket(s) moved back`);
  } catch (err) {
    say(err.message, true);
  }
});

load().catch((err) => say(err.message, true));
