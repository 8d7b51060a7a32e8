/* The supervisors' dashboard: sign in, then coverage on a map of the caller's territory.
 *
 * Everything comes from the API with the caller's token, so what is drawn is what the
 * caller's scope allows.  Geometry comes from the vector tiles; colours for the chosen
 * period come from the coverage report and are set as feature state, so a new period
 * re-colours the map without fetching a single tile again.
 */
"use strict";

(function () {
  const API = "/api/v1";
  const CHILD = { city: "county", county: "township", township: "village", village: "grid" };
  const READERS = ["city_admin", "county_admin", "township_supervisor", "village_admin", "reviewer"];
  const BAND_COLOURS = { red: "#d7301f", amber: "#f2a81d", green: "#2ca25f" };
  const NO_DATA = "#c9ced6";
  const CELL_MIN_ZOOM = 12;  // cells are drawn everywhere from here on (tiles)
  const FLAGGED_PAGE = 100;
  const REFRESH_BEFORE_EXPIRY_MS = 60 * 1000;
  const PREFIX_LENGTHS = [2, 4, 6, 9];  // city, county, township, village digits of a 12-digit code

  const state = {
    lang: localStorage.getItem("grids.lang") || "zh",  // Chinese unless the user chose English
    access: sessionStorage.getItem("grids.access"),
    refresh: sessionStorage.getItem("grids.refresh"),
    user: JSON.parse(sessionStorage.getItem("grids.user") || "null"),
    period: null, tab: "lagging", map: null, refreshTimer: null,
    ...freshTerritory(),
    epoch: 0,      // bumped at sign-out: answers to an earlier account's requests are dropped
    openSeq: 0,    // the latest region asked for: an open() overtaken by a newer one is skipped
  };
  let queue = Promise.resolve();  // user actions run one after another, in the order asked

  /** What the page knows of one account's territory: empty at the start and after sign-out. */
  function freshTerritory() {
    return { trail: [], regions: new Map(), report: null, cellRows: new Map(),
      coloured: { villages: new Set(), grids: new Set(), "village-cells": new Set() } };
  }
  const $ = (id) => document.getElementById(id);

  // --- text -------------------------------------------------------------------------

  function t(key, vars) {
    const text = (window.GRIDS_TEXT[state.lang] || {})[key] ?? window.GRIDS_TEXT.zh[key] ?? key;
    return text.replace(/\{(\w+)\}/g, (_, name) => (vars && name in vars ? vars[name] : ""));
  }

  function applyLanguage() {
    document.documentElement.lang = state.lang === "zh" ? "zh-CN" : "en";
    document.title = t("title");
    document.querySelectorAll("[data-i18n]").forEach((node) => { node.textContent = t(node.dataset.i18n); });
    renderLegend();
    document.querySelectorAll("[data-i18n-label]").forEach((node) => {
      node.setAttribute("aria-label", t(node.dataset.i18nLabel));
    });
    if (state.user) {
      $("who").textContent = t("signed_in_as", { user: state.user.username, role: t(`role_${state.user.role}`) });
    }
  }

  /** An element with attributes and children (text children are set as text, never as HTML). */
  function el(tag, attrs, ...children) {
    const node = document.createElement(tag);
    Object.entries(attrs || {}).forEach(([name, value]) => {
      if (value === undefined || value === null || value === false) return;
      if (name.startsWith("on")) node.addEventListener(name.slice(2), value);
      else if (name === "dataset") Object.assign(node.dataset, value);
      else node.setAttribute(name, value === true ? "" : value);
    });
    children.flat().forEach((child) => {
      if (child !== null && child !== undefined) node.append(child instanceof Node ? child : String(child));
    });
    return node;
  }

  const percent = (value) => (value === null || value === undefined ? "—" : `${(value * 100).toFixed(1)}%`);
  const locale = () => (state.lang === "zh" ? "zh-CN" : "en-GB");
  const number = (value) => (value === null || value === undefined ? "—" : value.toLocaleString(locale()));

  /** The significant prefix of a region code, as the server's ``code_prefix`` reads it. */
  function codePrefix(code) {
    const length = PREFIX_LENGTHS.find((digits) => /^0*$/.test(code.slice(digits)));
    return length === undefined ? code : code.slice(0, length);
  }

  function bandChip(band) {
    return el("span", { class: `chip band-${band || "none"}` }, t(`band_${band || "none"}`));
  }

  // --- API --------------------------------------------------------------------------

  class ApiError extends Error {
    constructor(status, message) { super(message); this.status = status; }
  }

  /** Thrown when an answer arrives for an account that has signed out since: it is dropped. */
  class Stale extends Error {}

  let refreshing = null;

  /** A new access token from the refresh token (one request however many callers ask at once). */
  function refreshAccess() {
    if (!state.refresh) return Promise.resolve(false);
    if (!refreshing) {
      const epoch = state.epoch;
      refreshing = fetch(`${API}/auth/refresh`, {
        method: "POST", headers: { Authorization: `Bearer ${state.refresh}`, "Accept-Language": acceptLanguage() },
      }).then(async (response) => {
        if (!response.ok || epoch !== state.epoch) return false;
        state.access = (await response.json()).access_token;
        sessionStorage.setItem("grids.access", state.access);
        scheduleRefresh();
        return true;
      }).catch(() => false).finally(() => { refreshing = null; });
    }
    return refreshing;
  }

  /** Refresh a minute before the access token expires (read from the token itself). */
  function scheduleRefresh() {
    clearTimeout(state.refreshTimer);
    let expiresAt = Date.now();
    try {
      const payload = JSON.parse(atob(state.access.split(".")[1].replace(/-/g, "+").replace(/_/g, "/")));
      expiresAt = payload.exp * 1000;
    } catch (_) { /* unreadable: refresh now */ }
    state.refreshTimer = setTimeout(refreshAccess, Math.max(0, expiresAt - Date.now() - REFRESH_BEFORE_EXPIRY_MS));
  }

  function acceptLanguage() { return state.lang === "zh" ? "zh-CN" : "en"; }

  /** GET (or POST) under /api/v1 with the caller's token; one retry after refreshing it. */
  async function api(path, { method = "GET", body, raw = false, retried = false } = {}) {
    const epoch = state.epoch;
    const headers = { Authorization: `Bearer ${state.access}`, "Accept-Language": acceptLanguage() };
    if (body) headers["Content-Type"] = "application/json";
    let response;
    try {
      response = await fetch(API + path, { method, headers, body: body ? JSON.stringify(body) : undefined });
    } catch (_) {
      throw new ApiError(0, t("load_failed"));  // the network, not the server
    }
    if (epoch !== state.epoch) throw new Stale();
    if (response.status === 401 && !retried && await refreshAccess()) {
      return api(path, { method, body, raw, retried: true });
    }
    if (response.status === 401) { signOut(); throw new Stale(); }
    if (!response.ok) {
      let message = t("load_failed");
      try {
        const error = await response.json();
        const fields = Object.entries(error.errors || {}).flatMap(([location, messages]) =>
          Object.entries(messages || {}).map(([field, text]) => `${field}: ${[].concat(text).join(" ")}`));
        message = [error.message || message, ...fields].join(" ");
      } catch (_) { /* not JSON */ }
      throw new ApiError(response.status, message);
    }
    return raw ? response : response.json();
  }

  function query(params) {
    const search = new URLSearchParams();
    Object.entries(params).forEach(([key, value]) => { if (value !== undefined && value !== null) search.set(key, value); });
    return search.toString();
  }

  // --- sign-in ----------------------------------------------------------------------

  async function signIn(event) {
    event.preventDefault();
    const button = $("signin-submit");
    if (button.disabled) return;  // one sign-in at a time: a double click must not start two maps
    button.disabled = true;
    try {
      await trySignIn();
    } catch (_) {
      $("signin-error").textContent = t("load_failed");
    } finally {
      button.disabled = false;
    }
  }

  async function trySignIn() {
    $("signin-error").textContent = "";
    const response = await fetch(`${API}/auth/token`, {
      method: "POST",
      headers: { "Content-Type": "application/json", "Accept-Language": acceptLanguage() },
      body: JSON.stringify({ username: $("username").value.trim(), password: $("password").value }),
    });
    if (!response.ok) {
      $("signin-error").textContent = response.status === 401 ? t("bad_credentials")
        : ((await response.json().catch(() => ({}))).message || t("load_failed"));
      return;
    }
    const body = await response.json();
    if (!READERS.includes(body.user.role)) { $("signin-error").textContent = t("not_supervisor"); return; }
    state.access = body.access_token;
    state.refresh = body.refresh_token;
    state.user = body.user;
    sessionStorage.setItem("grids.access", state.access);
    sessionStorage.setItem("grids.refresh", state.refresh);
    sessionStorage.setItem("grids.user", JSON.stringify(state.user));
    $("password").value = "";
    await start();
  }

  function signOut() {
    // End the session on the server too: the refresh token (and its access tokens) stop working.
    if (state.refresh) {
      fetch(`${API}/auth/logout`, { method: "POST", headers: { Authorization: `Bearer ${state.refresh}` } })
        .catch(() => { /* offline: the tokens still expire on their own */ });
    }
    ["grids.access", "grids.refresh", "grids.user"].forEach((key) => sessionStorage.removeItem(key));
    // Nothing of one account's territory stays for the next one to sign in on this page.
    Object.assign(state, { access: null, refresh: null, user: null, ...freshTerritory() });
    state.epoch += 1;
    queue = Promise.resolve();
    clearTimeout(state.refreshTimer);
    window.GridsNotifications.stop();
    if (state.map) { state.map.remove(); state.map = null; }
    if (location.hash) history.replaceState(null, "", location.pathname);  // the next account starts at home
    $("dashboard-view").hidden = true;
    $("signout").hidden = true;
    $("signin-view").hidden = false;
    $("who").textContent = "";
    document.body.dataset.state = "signed-out";
  }

  // --- regions and the trail --------------------------------------------------------

  async function region(code) {
    if (!state.regions.has(code)) {
      const feature = await api(`/regions/${code}?f=geojson`);
      state.regions.set(code, { ...feature.properties, code, geometry: feature.geometry });
    }
    return state.regions.get(code);
  }

  /** The chain of regions from the caller's scope down to ``code``. */
  async function trailTo(code) {
    const chain = [await region(code)];
    while (chain[0].code !== state.user.scope && chain[0].parent_code) {
      chain.unshift(await region(chain[0].parent_code));
    }
    return chain;
  }

  const current = () => state.trail[state.trail.length - 1];

  function renderBreadcrumbs() {
    const nav = $("breadcrumbs");
    nav.replaceChildren();
    state.trail.forEach((item, index) => {
      if (index) nav.append(el("span", { class: "sep" }, "›"));
      const last = index === state.trail.length - 1;
      nav.append(last
        ? el("span", { class: "crumb current", dataset: { code: item.code } }, item.name)
        : el("a", { href: `#${item.code}`, class: "crumb", dataset: { code: item.code } }, item.name));
    });
  }

  function bounds(geometry) {
    let minX = Infinity; let minY = Infinity; let maxX = -Infinity; let maxY = -Infinity;
    const walk = (coords) => {
      if (typeof coords[0] === "number") {
        minX = Math.min(minX, coords[0]); maxX = Math.max(maxX, coords[0]);
        minY = Math.min(minY, coords[1]); maxY = Math.max(maxY, coords[1]);
      } else coords.forEach(walk);
    };
    walk(geometry.coordinates);
    return [[minX, minY], [maxX, maxY]];
  }

  /** Run a user action after the ones before it, showing loading, ready or the error. */
  function act(action) {
    const epoch = state.epoch;
    const run = queue.then(async () => {
      if (epoch !== state.epoch) return;
      document.body.dataset.state = "loading";
      setStatus(t("loading"));
      try {
        await action();
        if (epoch !== state.epoch) return;
        setStatus(t("map_hint"));
        document.body.dataset.state = "ready";
      } catch (error) {
        if (error instanceof Stale || epoch !== state.epoch) return;
        setStatus(error.message || t("load_failed"));
        document.body.dataset.state = "error";
      }
    });
    queue = run;
    return run;
  }

  /** Show ``code`` (a click, a row, a breadcrumb, the address); ``fromHistory``: Back/Forward. */
  function open(code, fromHistory = false) {
    state.openSeq += 1;
    const seq = state.openSeq;
    return act(async () => {
      if (seq !== state.openSeq) return;  // the user has asked for another place since
      await showRegion(code, fromHistory);
    });
  }

  /** Breadcrumbs, map extent, summary, colours and the panel of the region ``code``. */
  async function showRegion(code, fromHistory) {
    state.trail = await trailTo(code);
    if (!fromHistory && location.hash !== `#${code}`) history.pushState(null, "", `#${code}`);
    renderBreadcrumbs();
    const here = current();
    const empty = { type: "FeatureCollection", features: [] };
    state.map.getSource("highlight").setData(empty);
    state.map.getSource("focus").setData({ type: "Feature", geometry: here.geometry, properties: {} });
    state.map.fitBounds(bounds(here.geometry), { padding: 30, duration: 0 });
    await Promise.all([colourCells(), loadReport(), renderTab()]);
    renderSummary();
    document.body.dataset.region = here.code;
    document.body.dataset.level = here.level;
  }

  function setStatus(message) { $("status").textContent = message; }

  // --- colours ----------------------------------------------------------------------

  /** Colour features of ``source`` by band; ``replace`` first clears what was coloured before. */
  function setBands(source, rows, replace = true) {
    const map = state.map;
    const sourceLayer = source === "village-cells" ? undefined : source;  // GeoJSON sources have no layers
    if (replace) {
      state.coloured[source].forEach((code) => map.removeFeatureState({ source, sourceLayer, id: code }));
      state.coloured[source] = new Set();
    }
    rows.forEach((row) => {
      state.coloured[source].add(row.code);
      map.setFeatureState({ source, sourceLayer, id: row.code },
        { band: row.households ? row.band : "none", coverage: row.coverage });
    });
  }

  /** Every village in the caller's scope, coloured by its band in the period. */
  async function colourVillages() {
    // A village administrator's map is their own village, drawn cell by cell.
    if ((await region(state.user.scope)).level === "village") return;
    const rows = await api(`/coverage?${query({ region: state.user.scope, by: "village", ...periodParams() })}`);
    setBands("villages", rows);
  }

  /** Forget the cell colours (a new period); they are fetched again township by township. */
  function resetCellColours() {
    setBands("grids", []);
    state.cellRows = new Map();
  }

  /** The region whose cells are fetched together: the township of ``code``, or the caller's
   * own scope when that is smaller (a village administrator may not read the township). */
  function cellRegionOf(code) {
    const township = `${code.slice(0, 9)}000`;
    const scope = state.user.scope;
    return township.startsWith(codePrefix(scope)) ? township : scope;
  }

  /** Colour the tile cells of one township (or smaller scope) for the period, once. */
  async function colourCellsOf(regionCode) {
    if (state.cellRows.has(regionCode)) return state.cellRows.get(regionCode);
    const asked = state.cellRows;
    const pending = api(`/coverage?${query({ region: regionCode, by: "grid", ...periodParams() })}`);
    asked.set(regionCode, pending);
    try {
      const rows = await pending;
      // A new period or account replaces the cache: colours asked for before are not for this map.
      if (asked === state.cellRows) setBands("grids", rows, false);
      return rows;
    } catch (error) {
      asked.delete(regionCode);
      throw error;
    }
  }

  /** Zoomed in anywhere: colour the cells of the townships in view. */
  async function colourCellsInView() {
    const map = state.map;
    if (!map || map.getZoom() < CELL_MIN_ZOOM) return;
    const villages = map.queryRenderedFeatures({ layers: ["villages-fill"] }).map((feature) => String(feature.id));
    const regions = [...new Set(villages.map(cellRegionOf))].slice(0, 12);
    await Promise.all(regions.map(colourCellsOf)).catch((error) => {
      if (!(error instanceof Stale)) setStatus(error.message);
    });
  }

  /** The cells of the township or village shown.
   *
   * Tiles draw cells everywhere from zoom 12; the village shown also gets its own cells as
   * GeoJSON, so they are drawn at whatever zoom it fits in (a large rural village may not
   * fit at 12).
   */
  async function colourCells() {
    const here = current();
    const cellsSource = state.map.getSource("village-cells");
    if (here.level !== "village") {
      setBands("village-cells", []);
      cellsSource.setData({ type: "FeatureCollection", features: [] });
    }
    if (here.level !== "township" && here.level !== "village") return;
    const [rows, cells] = await Promise.all([
      colourCellsOf(cellRegionOf(here.code)),
      here.level === "village" ? api(`/grids?${query({ region: here.code, tier: 3, f: "geojson", page_size: 1000 })}`)
        : null,
    ]);
    if (here.level === "village") {
      cellsSource.setData(cells);
      setBands("village-cells", rows.filter((row) => row.code.startsWith(here.code)));
    }
  }

  function renderLegend() {
    const legend = $("legend");
    if (!legend) return;
    legend.replaceChildren(...["red", "amber", "green", "none"].map((band) =>
      el("span", { class: "legend-item" }, swatch(BAND_COLOURS[band] || NO_DATA), t(`band_${band}`))));
  }

  function swatch(colour) {
    const node = el("i");
    node.style.background = colour;  // a style property, not a style attribute (the page's CSP)
    return node;
  }

  // --- panels -----------------------------------------------------------------------

  function periodParams() { return { from: state.period.from, to: state.period.to }; }

  async function renderTab() {
    document.querySelectorAll(".tabs button").forEach((button) =>
      button.classList.toggle("active", button.dataset.tab === state.tab));
    ["lagging", "flagged", "certification"].forEach((tab) => { $(`tab-${tab}`).hidden = tab !== state.tab; });
    if (state.tab === "lagging") await renderLagging();
    else if (state.tab === "flagged") await renderFlagged();
    else await renderCertification();
  }

  /** The coverage report of the region shown for the period (its children, lagging first): one
   * request, shared by the summary and the lagging list. */
  function loadReport() {
    const here = current();
    const period = state.period;
    if (!state.report || state.report.region !== here.code || state.report.period !== period) {
      const by = CHILD[here.level];
      const report = { region: here.code, period, by, rows: null };
      report.ready = api(`/coverage?${query({ region: here.code, by, ...periodParams() })}`).then((rows) => {
        report.rows = rows;
        return report;
      });
      report.ready.catch(() => { if (state.report === report) state.report = null; });
      state.report = report;
    }
    return state.report.ready;
  }

  function renderSummary() {
    const { rows } = state.report;
    const total = rows.reduce((sum, row) => ({ households: sum.households + row.households,
      visited: sum.visited + row.households_visited }), { households: 0, visited: 0 });
    $("summary").replaceChildren(el("strong", {}, current().name), " · ",
      `${t("coverage")} ${percent(total.households ? total.visited / total.households : null)}`,
      ` (${number(total.visited)} / ${number(total.households)})`);
  }

  /** Child regions (or cells) of the region shown, lowest coverage first. */
  async function renderLagging() {
    const here = current();
    const by = CHILD[here.level];
    const [{ rows }, statuses] = await Promise.all([
      loadReport(),
      by === "village" ? certificationStatuses(here.code) : Promise.resolve(null),
    ]);
    const head = el("tr", {}, el("th", {}, t(by)), el("th", { class: "num" }, t("households")),
      el("th", { class: "num" }, t("visited")), el("th", { class: "num" }, t("coverage")), el("th", {}, t("band")),
      el("th", { class: "num" }, t("flagged_visits")), statuses ? el("th", {}, t("certification")) : null);
    const body = rows.map((row) => el("tr", {
      class: by === "grid" ? "row" : "row drill", dataset: { code: row.code },
      onclick: by === "grid" ? () => act(() => highlightCell(row.code)) : () => open(row.code),
    },
    el("td", {}, row.name || row.code), el("td", { class: "num" }, number(row.households)),
    el("td", { class: "num" }, number(row.households_visited)), el("td", { class: "num" }, percent(row.coverage)),
    el("td", {}, bandChip(row.households ? row.band : null)), el("td", { class: "num" }, number(row.flagged_visits)),
    statuses ? el("td", {}, t(`status_${statuses.get(row.code) || "none"}`)) : null));
    $("lagging").replaceChildren(el("thead", {}, head), el("tbody", {}, body.length ? body
      : el("tr", {}, el("td", { colspan: 7 }, t("no_rows")))));
  }

  /** The latest certification status of every village under ``code`` (as the server orders them:
   * by application time, then id), over every page. */
  async function certificationStatuses(code) {
    const items = [];
    for (let page = 1; ; page += 1) {
      const response = await api(`/certifications?${query({ region: code, page_size: 1000, page })}`, { raw: true });
      items.push(...await response.json());
      const pagination = JSON.parse(response.headers.get("X-Pagination") || "{}");
      if (!pagination.total_pages || page >= pagination.total_pages) break;
    }
    const statuses = new Map();
    items.sort((a, b) => (a.applied_at === b.applied_at ? a.id - b.id : (a.applied_at < b.applied_at ? -1 : 1)))
      .forEach((item) => statuses.set(item.village_code, item.status));
    return statuses;
  }

  async function renderFlagged() {
    const here = current();
    const response = await api(`/visits?${query({ region: here.code, flagged: "true", page_size: FLAGGED_PAGE,
      ...periodParams() })}`, { raw: true });
    const visits = await response.json();
    const pagination = JSON.parse(response.headers.get("X-Pagination") || "{}");
    const head = el("tr", {}, el("th", {}, t("visited_at")), el("th", {}, t("cell")), el("th", {}, t("outcome")),
      el("th", {}, t("flags")));
    const body = visits.map((visit) => el("tr", { class: "row", dataset: { id: visit.id },
      onclick: () => act(() => highlightCell(visit.grid_code)) },
    el("td", {}, new Date(visit.visited_at).toLocaleString(locale(), { timeZone: "Asia/Shanghai" })),
    el("td", {}, visit.grid_code), el("td", {}, t(`outcome_${visit.outcome}`)),
    el("td", {}, visit.flags.map((flag) => el("span", { class: "chip flag" }, t(`flag_${flag}`))))));
    $("flagged").replaceChildren(el("thead", {}, head), el("tbody", {}, body.length ? body
      : el("tr", {}, el("td", { colspan: 4 }, t("no_flagged")))));
    if (pagination.total > visits.length) {
      $("flagged").append(el("caption", {}, `${t("more_rows", { n: visits.length })} / ${number(pagination.total)}`));
    }
  }

  async function renderCertification() {
    const here = current();
    const box = $("certification");
    if (here.level === "village") {
      const evaluation = await api(`/villages/${here.code}/certification`);
      const status = evaluation.current ? evaluation.current.status : "none";
      box.replaceChildren(
        el("p", {}, el("strong", {}, t(`status_${status}`)),
          evaluation.current && evaluation.current.valid_until ? ` → ${evaluation.current.valid_until}` : ""),
        el("p", { class: evaluation.eligible ? "ok" : "warn" }, t(evaluation.eligible ? "eligible" : "not_eligible")),
        el("table", { class: "rows" },
          el("thead", {}, el("tr", {}, el("th", {}, t("criterion")), el("th", { class: "num" }, t("value")),
            el("th", { class: "num" }, t("threshold")), el("th", {}, t("passed")))),
          el("tbody", {}, evaluation.criteria.map((criterion) => {
            const asShare = criterion.name !== "zero_cases";
            return el("tr", {}, el("td", {}, t(`criterion_${criterion.name}`)),
              el("td", { class: "num" }, asShare ? percent(criterion.value) : number(criterion.value)),
              el("td", { class: "num" }, asShare ? percent(criterion.threshold) : number(criterion.threshold)),
              el("td", {}, criterion.passed ? "✓" : "✗"));
          }))));
      return;
    }
    const share = await api(`/coverage/fraud-free?${query({ region: here.code })}`);
    box.replaceChildren(
      el("p", {}, `${t("fraud_free_share")}: `, el("strong", {}, percent(share.share)),
        ` (${number(share.certified)} / ${number(share.villages)})`),
      el("table", { class: "rows" },
        el("thead", {}, el("tr", {}, el("th", {}, t("name")), el("th", { class: "num" }, t("certified_villages")),
          el("th", { class: "num" }, t("fraud_free_share")))),
        el("tbody", {}, (share.children || []).map((child) => el("tr", { class: "row drill", dataset: { code: child.code },
          onclick: () => open(child.code) },
        el("td", {}, child.name), el("td", { class: "num" }, `${number(child.certified)} / ${number(child.villages)}`),
        el("td", { class: "num" }, percent(child.share)))))));
  }

  async function highlightCell(code) {
    const feature = await api(`/grids/${code}?f=geojson`);
    state.map.getSource("highlight").setData(feature);
    state.map.fitBounds(bounds(feature.geometry), { padding: 80, maxZoom: 16, duration: 0 });
  }

  // --- downloads --------------------------------------------------------------------

  async function download(format) {
    const here = current();
    const by = CHILD[here.level];
    const response = await api(`/coverage?${query({ region: here.code, by, ...periodParams(), f: format })}`,
      { raw: true });
    const blob = await response.blob();
    const disposition = response.headers.get("Content-Disposition") || "";
    const match = /filename\*?=(?:UTF-8'')?"?([^";]+)"?/i.exec(disposition);
    const name = match ? decodeURIComponent(match[1])
      : `coverage-${here.code}-${by}-${state.period.from}-${state.period.to}.${format}`;
    const link = el("a", { href: URL.createObjectURL(blob), download: name });
    document.body.append(link);
    link.click();
    setTimeout(() => { URL.revokeObjectURL(link.href); link.remove(); }, 1000);
  }

  // --- map --------------------------------------------------------------------------

  function fillColour() {
    return ["match", ["coalesce", ["feature-state", "band"], "none"],
      "red", BAND_COLOURS.red, "amber", BAND_COLOURS.amber, "green", BAND_COLOURS.green, NO_DATA];
  }

  function createMap() {
    const origin = window.location.origin;
    const empty = { type: "FeatureCollection", features: [] };
    const map = new maplibregl.Map({
      container: "map",
      attributionControl: false,
      // No base map from the internet: the grid polygons are the map.
      style: {
        version: 8,
        sources: {
          villages: { type: "vector", tiles: [`${origin}${API}/tiles/villages/{z}/{x}/{y}.pbf`], minzoom: 6,
            maxzoom: 14, promoteId: "code" },
          grids: { type: "vector", tiles: [`${origin}${API}/tiles/grids/{z}/{x}/{y}.pbf`], minzoom: CELL_MIN_ZOOM,
            maxzoom: 15, promoteId: "code" },
          focus: { type: "geojson", data: empty },
          highlight: { type: "geojson", data: empty },
          "village-cells": { type: "geojson", data: empty, promoteId: "code" },
        },
        layers: [
          { id: "background", type: "background", paint: { "background-color": "#eef1f5" } },
          { id: "villages-fill", type: "fill", source: "villages", "source-layer": "villages",
            paint: { "fill-color": fillColour(), "fill-opacity": 0.75 } },
          { id: "villages-line", type: "line", source: "villages", "source-layer": "villages",
            paint: { "line-color": "#5b6472", "line-width": ["interpolate", ["linear"], ["zoom"], 8, 0.3, 13, 1.2] } },
          { id: "cells-fill", type: "fill", source: "grids", "source-layer": "grids", minzoom: CELL_MIN_ZOOM,
            filter: ["==", ["get", "tier"], 3],
            // Cells are coloured once their township's report is in; until then only outlined.
            paint: { "fill-color": fillColour(),
              "fill-opacity": ["case", ["==", ["coalesce", ["feature-state", "band"], "none"], "none"], 0, 0.85] } },
          { id: "cells-line", type: "line", source: "grids", "source-layer": "grids", minzoom: CELL_MIN_ZOOM,
            filter: ["==", ["get", "tier"], 3], paint: { "line-color": "#ffffff", "line-width": 0.8 } },
          { id: "village-cells-fill", type: "fill", source: "village-cells",
            paint: { "fill-color": fillColour(), "fill-opacity": 0.85 } },
          { id: "village-cells-line", type: "line", source: "village-cells",
            paint: { "line-color": "#ffffff", "line-width": 0.8 } },
          { id: "focus-line", type: "line", source: "focus", paint: { "line-color": "#1d2733", "line-width": 3 } },
          { id: "highlight-line", type: "line", source: "highlight",
            paint: { "line-color": "#1f5fd1", "line-width": 3, "line-dasharray": [2, 1] } },
        ],
      },
      bounds: bounds(current().geometry),
      fitBoundsOptions: { padding: 30 },
      transformRequest: (url) => (url.startsWith(origin + API)
        ? { url, headers: { Authorization: `Bearer ${state.access}` } } : { url }),
    });
    map.addControl(new maplibregl.NavigationControl({ showCompass: false }), "top-right");
    map.addControl(new maplibregl.ScaleControl(), "bottom-left");
    const popup = new maplibregl.Popup({ closeButton: false, closeOnClick: false });
    map.on("mousemove", (event) => {
      const [feature] = map.queryRenderedFeatures(event.point, { layers: ["village-cells-fill", "cells-fill", "villages-fill"] });
      map.getCanvas().style.cursor = feature ? "pointer" : "";
      if (!feature) { popup.remove(); return; }
      const coverage = map.getFeatureState({ source: feature.source, sourceLayer: feature.sourceLayer,
        id: feature.id }).coverage;
      popup.setLngLat(event.lngLat).setDOMContent(el("div", {}, el("strong", {}, feature.properties.name || feature.id),
        el("br"), `${t("households")} ${number(feature.properties.households)} · ${t("coverage")} ${percent(coverage)}`))
        .addTo(map);
    });
    map.on("mouseout", () => popup.remove());
    // After every move, once its tiles are in: colour the cells of the townships in view.
    map.on("idle", () => { colourCellsInView(); });
    // A tile refused for an expired token: refresh it, then ask for the tiles again.
    map.on("error", (event) => {
      const status = event.error && event.error.status;
      if (status !== 401) return;
      refreshAccess().then((refreshed) => {
        if (!refreshed || state.map !== map) return;
        ["villages", "grids"].forEach((name) => {
          const source = map.getSource(name);
          source.setTiles(source.tiles);
        });
      });
    });
    map.on("click", "villages-fill", (event) => {
      if (map.queryRenderedFeatures(event.point, { layers: ["cells-fill", "village-cells-fill"] }).length) return;
      const village = String(event.features[0].id);
      // One level down from the region shown (city → county → township → village).
      const level = current().level;
      const next = level === "city" ? `${village.slice(0, 6)}000000`
        : level === "county" ? `${village.slice(0, 9)}000` : village;
      if (/^\d{12}$/.test(next) && next !== current().code) open(next);
    });
    map.on("click", "cells-fill", (event) => {
      const village = event.features[0].id.slice(0, 12);
      if (current().code !== village && /^\d{12}$/.test(village)) open(village);
    });
    return map;
  }

  // --- start ------------------------------------------------------------------------

  function localToday() {
    return new Intl.DateTimeFormat("en-CA", { timeZone: "Asia/Shanghai" }).format(new Date());
  }

  function defaultPeriod() {
    const to = localToday();
    const from = new Date(`${to}T00:00:00Z`);
    from.setUTCDate(from.getUTCDate() - 29);
    return { from: from.toISOString().slice(0, 10), to };
  }

  async function start() {
    if (state.map) { state.map.remove(); state.map = null; }
    $("signin-view").hidden = true;
    $("dashboard-view").hidden = false;
    $("signout").hidden = false;
    applyLanguage();
    document.body.dataset.state = "loading";
    state.period = state.period || defaultPeriod();
    $("period-from").value = state.period.from;
    $("period-to").value = state.period.to;
    scheduleRefresh();
    const epoch = state.epoch;
    window.GridsNotifications.start({
      token: () => state.access, refresh: refreshAccess, language: acceptLanguage, t,
      onUnauthorized: signOut,
    });
    try {
      const me = await api("/me");
      state.user = { ...state.user, ...me };
      state.trail = await trailTo(state.user.scope);
      if (epoch !== state.epoch) return;
      state.map = createMap();
      await new Promise((resolve) => (state.map.loaded() ? resolve() : state.map.once("load", resolve)));
      await colourVillages();
    } catch (error) {
      if (error instanceof Stale || epoch !== state.epoch) return;
      setStatus(error.message || t("load_failed"));
      document.body.dataset.state = "error";
      return;
    }
    await open(addressedRegion(), true);
  }

  /** The region in the address (``#code``) when it is inside the caller's scope, else the scope. */
  function addressedRegion() {
    const code = /^#\d{12}$/.test(location.hash) ? location.hash.slice(1) : state.user.scope;
    return code.startsWith(codePrefix(state.user.scope)) ? code : state.user.scope;
  }

  function changePeriod(event) {
    event.preventDefault();
    const from = $("period-from").value;
    const to = $("period-to").value;
    if (!from || !to || from > to) { setStatus(t("period_invalid")); return; }
    act(async () => {
      state.period = { from, to };
      resetCellColours();
      await colourVillages();
      await showRegion(current().code, true);
    });
  }

  function wire() {
    $("signin-form").addEventListener("submit", signIn);
    $("signout").addEventListener("click", signOut);
    $("language").addEventListener("click", () => {
      state.lang = state.lang === "zh" ? "en" : "zh";
      localStorage.setItem("grids.lang", state.lang);
      applyLanguage();
      window.GridsNotifications.redraw();
      if (state.user && state.map) act(async () => { await renderTab(); renderSummary(); });
    });
    // Back and Forward walk the drill-down (each region shown is an entry in the history).
    window.addEventListener("popstate", () => {
      if (state.user && state.map) open(addressedRegion(), true);
    });
    $("period-form").addEventListener("submit", changePeriod);
    $("breadcrumbs").addEventListener("click", (event) => {
      const code = event.target.dataset && event.target.dataset.code;
      if (event.target.tagName === "A" && code) { event.preventDefault(); open(code); }
    });
    document.querySelectorAll(".tabs button").forEach((button) => button.addEventListener("click", () => {
      state.tab = button.dataset.tab;
      act(renderTab);
    }));
    $("download-csv").addEventListener("click", () => act(() => download("csv")));
    $("download-xlsx").addEventListener("click", () => act(() => download("xlsx")));
  }

  window.gridsDashboard = { state, open, codePrefix };
  wire();
  applyLanguage();
  if (state.access && state.user) start(); else signOut();
}());
