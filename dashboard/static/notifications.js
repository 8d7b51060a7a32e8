/* Notifications on the dashboard: a bell with the unread count, a list, and a live stream.
 *
 * The stream is GET /api/v1/me/notifications/stream (Server-Sent Events) read with fetch(), because
 * EventSource cannot send the Authorization header and the token must never sit in a URL.  The
 * stream ends every few minutes by design: it is read again with Last-Event-ID, so nothing is
 * missed.  Text from the server is inserted as text, never as HTML.
 */
"use strict";

window.GridsNotifications = (function () {
  const API = "/api/v1";
  const RECONNECT_MS = 3000;
  const LISTED = 20;
  let session = null;  // { token(), refresh(), language(), t(), onUnauthorized() } while signed in
  let controller = null;
  let lastId = null;
  let unread = 0;
  const items = new Map();  // id → notification, newest first when drawn

  const $ = (id) => document.getElementById(id);

  function headers(extra) {
    return { Authorization: `Bearer ${session.token()}`, "Accept-Language": session.language(), ...extra };
  }

  function draw() {
    const badge = $("notifications-count");
    badge.textContent = unread > 99 ? "99+" : String(unread);
    badge.hidden = unread === 0;
    $("notifications-toggle").setAttribute("aria-label", session ? session.t("notifications_label", { n: unread }) : "");
    const list = $("notifications-list");
    list.replaceChildren();
    const sorted = [...items.values()].sort((a, b) => b.id - a.id).slice(0, LISTED);
    if (!sorted.length) {
      const empty = document.createElement("li");
      empty.className = "empty";
      empty.textContent = session ? session.t("no_notifications") : "";
      list.append(empty);
    }
    for (const item of sorted) {
      const row = document.createElement("li");
      row.dataset.id = String(item.id);
      row.className = item.read_at ? "read" : "unread";
      if (item.urgent) row.classList.add("urgent");
      const title = document.createElement("strong");
      title.textContent = item.title;
      const body = document.createElement("p");
      body.textContent = item.body;
      const when = document.createElement("time");
      when.dateTime = item.created_at;
      when.textContent = new Date(item.created_at).toLocaleString(session.language() === "zh-CN" ? "zh-CN" : "en-GB");
      row.append(title, body, when);
      if (!item.read_at) row.addEventListener("click", () => markRead(item));
      list.append(row);
    }
  }

  function toast(item) {
    const box = $("notification-toast");
    box.textContent = `${item.title} — ${item.body}`;
    box.hidden = false;
    clearTimeout(toast.timer);
    toast.timer = setTimeout(() => { box.hidden = true; }, 8000);
  }

  async function markRead(item) {
    const response = await fetch(`${API}/me/notifications/${item.id}/read`, { method: "POST", headers: headers() });
    if (response.ok && !item.read_at) {
      item.read_at = new Date().toISOString();
      unread = Math.max(0, unread - 1);
      draw();
    }
  }

  async function load() {
    const response = await fetch(`${API}/me/notifications?page_size=${LISTED}`, { headers: headers() });
    if (!response.ok) return;
    (await response.json()).forEach((item) => items.set(item.id, item));
    const counted = await fetch(`${API}/me/notifications?unread=true&page_size=1`, { headers: headers() });
    if (counted.ok) unread = JSON.parse(counted.headers.get("X-Pagination") || "{}").total ?? 0;
    draw();
  }

  function received(item) {
    if (items.has(item.id)) return;  // a repeat after reconnecting: already shown
    items.set(item.id, item);
    if (!item.read_at) unread += 1;
    draw();
    toast(item);
    document.body.dataset.notifications = String(items.size);
  }

  /** Read the stream until it ends or we sign out, then read it again after a pause. */
  async function listen(mine) {
    while (session && controller === mine) {
      try {
        const extra = lastId !== null ? { "Last-Event-ID": String(lastId) } : {};
        const response = await fetch(`${API}/me/notifications/stream`, { headers: headers(extra), signal: mine.signal });
        if (response.status === 401) {
          if (!(await session.refresh())) { session.onUnauthorized(); return; }
          continue;
        }
        if (!response.ok) throw new Error(String(response.status));
        $("notifications").dataset.live = "true";
        const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
        let buffer = "";
        for (;;) {
          const { value, done } = await reader.read();
          if (done) break;
          buffer += value;
          let end;
          while ((end = buffer.indexOf("\n\n")) >= 0) {
            const block = buffer.slice(0, end);
            buffer = buffer.slice(end + 2);
            const fields = {};
            block.split("\n").forEach((line) => {
              if (!line || line.startsWith(":")) return;
              const colon = line.indexOf(":");
              const name = colon < 0 ? line : line.slice(0, colon);
              const text = colon < 0 ? "" : line.slice(colon + 1).replace(/^ /, "");
              fields[name] = name in fields ? `${fields[name]}\n${text}` : text;
            });
            if (fields.data && fields.event === "notification") {
              if (fields.id) lastId = Number(fields.id);
              received(JSON.parse(fields.data));
            }
          }
        }
      } catch (error) {
        if (mine.signal.aborted) return;
      }
      $("notifications").dataset.live = "false";
      await new Promise((resolve) => setTimeout(resolve, RECONNECT_MS));
    }
  }

  function start(hooks) {
    stop();
    session = hooks;
    $("notifications").hidden = false;
    load().catch(() => {}).finally(() => {
      const latest = [...items.keys()].sort((a, b) => b - a)[0];
      if (latest !== undefined) lastId = latest;
      controller = new AbortController();
      listen(controller);
    });
  }

  function stop() {
    if (controller) controller.abort();
    controller = null;
    session = null;
    lastId = null;
    unread = 0;
    items.clear();
    const box = $("notifications");
    if (box) {
      box.hidden = true;
      $("notifications-panel").hidden = true;
      $("notification-toast").hidden = true;
      $("notifications-list").replaceChildren();
    }
  }

  function wire() {
    $("notifications-toggle").addEventListener("click", () => {
      const panel = $("notifications-panel");
      panel.hidden = !panel.hidden;
      $("notifications-toggle").setAttribute("aria-expanded", String(!panel.hidden));
    });
  }

  document.addEventListener("DOMContentLoaded", wire);
  return { start, stop, redraw: () => { if (session) draw(); } };
}());
