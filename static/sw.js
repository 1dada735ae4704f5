// 民情通 service worker, served from /sw.js (scope /). The server stamps VERSION from the files of the
// app shell, so any change to them installs a new worker; it waits until the user taps
// "有新版本，点击更新". Caches:
//   shell-<VERSION>  CSS, JS, vendored libraries, icons, /offline, the manifest: cache first.
//   pages-v1         pages I opened (今日, targets, forms, 日志, 同步): network first, cached copy offline.
//   data-v1          /api/v1/assignments (my targets with coordinates), photo thumbnails: network first.
//   assets-v1        static files outside the shell (a capability's own script): network first.
// POST requests are never cached: offline records go to the IndexedDB outbox (static/js/outbox*.js).
/* global MinqingOutbox */
"use strict";
var VERSION = "__VERSION__";
var PRECACHE = ["__PRECACHE__"];
var SHELL = "minqing-shell-" + VERSION;
var PAGES = "minqing-pages-v1";
var DATA = "minqing-data-v1";
var ASSETS = "minqing-assets-v1"; // other static files (a capability's own script): network first
var KEEP = [SHELL, PAGES, DATA, ASSETS];
var MAX_PAGES = 80;
var MAX_DATA = 300;
var epoch = 0; // bumped when the pages are forgotten: fetches started before must not store afterwards
var NO_PAGE_CACHE = /^\/(login|logout|sw\.js|offline|api\/|photos\/|static\/)/;

importScripts("/static/vendor/idb.umd.js", "/static/js/outbox-core.js");

self.addEventListener("install", function (event) {
  event.waitUntil(caches.open(SHELL).then(function (cache) {
    // The offline page is fetched without cookies: it must not carry anyone's name.
    return cache.addAll(PRECACHE.map(function (url) {
      return new Request(url, { cache: "reload", credentials: url === "/offline" ? "omit" : "same-origin" });
    }));
  }));
});

self.addEventListener("activate", function (event) {
  event.waitUntil(caches.keys().then(function (names) {
    return Promise.all(names.filter(function (n) { return n.indexOf("minqing-") === 0 && KEEP.indexOf(n) < 0; })
      .map(function (n) { return caches.delete(n); }));
  }).then(function () { return self.clients.claim(); }));
});

function stamped(response) {
  // A plain (not redirected) copy that remembers when it was fetched, for "最后同步于".
  return response.clone().blob().then(function (body) {
    var headers = new Headers(response.headers);
    headers.set("X-Minqing-Cached-At", String(Date.now()));
    return new Response(body, { status: 200, statusText: "OK", headers: headers });
  });
}

function trim(cache, max) {
  return cache.keys().then(function (keys) {
    return Promise.all(keys.slice(0, Math.max(0, keys.length - max)).map(function (k) { return cache.delete(k); }));
  });
}

function store(cacheName, url, response, started) {
  if (response.status !== 200 || response.type !== "basic") return Promise.resolve();
  return stamped(response).then(function (copy) {
    if (started !== epoch) return null;
    return caches.open(cacheName).then(function (cache) {
      return cache.delete(url).then(function () { return cache.put(url, copy); })
        .then(function () { return trim(cache, cacheName === PAGES ? MAX_PAGES : MAX_DATA); });
    });
  });
}

function fmtTime(ms) {
  var d = new Date(Number(ms));
  var pad = function (n) { return String(n).padStart(2, "0"); };
  return (d.getMonth() + 1) + "月" + d.getDate() + "日 " + pad(d.getHours()) + ":" + pad(d.getMinutes());
}

// A cached page says so: "离线副本 · 最后同步于 …".
function withBanner(response) {
  var at = response.headers.get("X-Minqing-Cached-At");
  return response.text().then(function (html) {
    var note = '<p class="offline-copy" role="status">离线副本 · 最后同步于 ' + (at ? fmtTime(at) : "—") +
      '，联网后自动更新</p>';
    html = html.replace('<main id="main">', '<main id="main">' + note);
    var headers = new Headers(response.headers);
    headers.set("Content-Type", "text/html; charset=utf-8");
    return new Response(html, { status: 200, headers: headers });
  });
}

function cachedPage(url) {
  var path = new URL(url).pathname;
  return caches.match(url, { cacheName: PAGES }).then(function (hit) {
    if (!hit && path === "/") return caches.match(new URL("/today", url).href, { cacheName: PAGES });
    return hit;
  }).then(function (hit) {
    if (hit) return withBanner(hit);
    return caches.match("/offline", { cacheName: SHELL }).then(function (page) {
      return page || new Response("<h1>当前没有网络</h1>", { headers: { "Content-Type": "text/html; charset=utf-8" } });
    });
  });
}

function isHtml(response) {
  return (response.headers.get("Content-Type") || "").indexOf("text/html") === 0;
}

function forget() {
  epoch++;
  return Promise.all([caches.delete(PAGES), caches.delete(DATA)]);
}

function pageFirst(event) {
  var request = event.request, started = epoch;
  return fetch(request).then(function (response) {
    var url = response.redirected ? response.url : request.url;
    if (response.ok && isHtml(response) && !NO_PAGE_CACHE.test(new URL(url).pathname)) {
      event.waitUntil(store(PAGES, url, response.clone(), started));
    }
    return response;
  }, function () { return cachedPage(request.url); });
}

function networkFirst(event, cacheName) {
  var started = epoch;
  return fetch(event.request).then(function (response) {
    if (response.ok) event.waitUntil(store(cacheName, event.request.url, response.clone(), started));
    return response;
  }, function () {
    return caches.match(event.request.url, { cacheName: cacheName }).then(function (hit) {
      return hit || Response.json({ error: "当前没有网络，且手机上没有缓存。", status: 503 }, { status: 503 });
    });
  });
}

self.addEventListener("fetch", function (event) {
  var request = event.request;
  var url = new URL(request.url);
  if (url.origin !== self.location.origin) return;
  if (request.method === "POST" && url.pathname === "/logout") {
    // Someone else may use this phone next: forget the pages (not the outbox, which is per user).
    event.respondWith(forget().then(function () { return fetch(request); }));
    return;
  }
  if (request.method !== "GET") return;
  if (url.pathname.indexOf("/static/") === 0 || url.pathname === "/manifest.webmanifest") {
    event.respondWith(caches.match(request, { cacheName: SHELL }).then(function (hit) {
      return hit || networkFirst(event, ASSETS);
    }));
    return;
  }
  if (url.pathname === "/api/v1/assignments" || /^\/photos\/[0-9a-fA-F-]+\/thumb$/.test(url.pathname)) {
    event.respondWith(networkFirst(event, DATA)); // thumbnails: cached visit pages keep their photos offline
    return;
  }
  if (NO_PAGE_CACHE.test(url.pathname)) return;
  var fragment = request.headers.get("HX-Request") === "true" && request.headers.get("HX-Boosted") !== "true";
  if (request.mode === "navigate" || (!fragment && (request.headers.get("Accept") || "").indexOf("text/html") >= 0) ||
      request.headers.get("HX-Boosted") === "true") {
    event.respondWith(pageFirst(event));
  }
});

// Pages ask for the pages they will need offline (the home list, forms of targets they opened, …).
function warm(urls) {
  var started = epoch;
  return Promise.all(urls.map(function (u) {
    return fetch(u, { credentials: "same-origin" }).then(function (response) {
      var api = u.indexOf("/api/") === 0;
      if (!response.ok || NO_PAGE_CACHE.test(new URL(response.url).pathname) && !api) return null;
      return store(api ? DATA : PAGES, response.url, response, started);
    }).catch(function () { return null; });
  }));
}

function broadcast(message) {
  return self.clients.matchAll({ includeUncontrolled: true }).then(function (clients) {
    clients.forEach(function (c) { c.postMessage(message); });
  });
}

self.addEventListener("message", function (event) {
  var data = event.data || {};
  if (data.type === "skip-waiting") self.skipWaiting();
  else if (data.type === "warm") event.waitUntil(warm(data.urls || []));
  else if (data.type === "clear-pages") event.waitUntil(forget());
});

// Background Sync: upload the outbox of the user last seen on this phone, even with no page open.
self.addEventListener("sync", function (event) {
  if (event.tag !== "minqing-outbox") return;
  event.waitUntil(Promise.all([MinqingOutbox.getMeta("user"), MinqingOutbox.getMeta("csrf")]).then(function (m) {
    if (!m[0]) return null;
    return MinqingOutbox.syncAll(m[0], m[1]).then(function (result) {
      return broadcast({ type: "synced", result: result });
    });
  }));
});
