// 民情通 map (督导 · 地图): vector layers from /api/v1/map/* on a blank background, or on tiles when
// MINQING_TILE_URL is set. Villages shaded by household coverage, targets coloured by status
// (visited / due / never), visits clustered, check-ins, and one person's route for a day.
(function () {
  "use strict";
  var STATUS_COLORS = { visited: "#1b5e20", due: "#e69500", never: "#d32f2f" };
  var STATUS_LABELS = { visited: "期间已走访", due: "期间未走访", never: "从未走访" };

  function loadScript(src) {
    return new Promise(function (resolve, reject) {
      var s = document.createElement("script");
      s.src = src; s.onload = resolve; s.onerror = reject;
      document.head.appendChild(s);
    });
  }
  var loading = null;
  function ensureLeaflet() {
    if (!loading) {
      var p = window.L ? Promise.resolve() : loadScript("/static/vendor/leaflet/leaflet.js");
      loading = p.then(function () {
        return window.L.markerClusterGroup ? null : loadScript("/static/vendor/leaflet/leaflet.markercluster.js");
      });
    }
    return loading;
  }
  function esc(text) {
    var d = document.createElement("div");
    d.textContent = text == null ? "" : String(text);
    return d.innerHTML;
  }
  function shade(pct) {
    if (pct == null) return "#bdbdbd";
    if (pct >= 100) return "#1b5e20";
    if (pct >= 80) return "#66bb6a";
    if (pct >= 50) return "#ffb74d";
    return "#e57373";
  }

  function init(el) {
    if (el.dataset.ready) return;
    el.dataset.ready = "1";
    var d = el.dataset;
    var map = L.map(el, { zoomControl: true, attributionControl: !!d.tileUrl, maxZoom: 19, minZoom: 5 });
    if (d.tileUrl) {
      L.tileLayer(d.tileUrl, { attribution: d.tileAttribution || "", maxZoom: 19 }).addTo(map);
    }
    var villages = L.geoJSON(null, {
      style: function (f) {
        return { color: "#555", weight: 1, fillColor: shade(f.properties.pct), fillOpacity: 0.35, className: "village-area" };
      },
      pointToLayer: function (f, latlng) {
        return L.circle(latlng, { radius: 600, className: "village-area" });
      },
      onEachFeature: function (f, layer) {
        var p = f.properties;
        layer.bindPopup("<strong>" + esc(p.name) + "</strong><br>农户覆盖 " +
          (p.pct == null ? "—" : p.pct + "%") + "（" + p.covered + "/" + p.households + "）");
      },
    }).addTo(map);
    var targets = L.layerGroup().addTo(map);
    var visits = L.markerClusterGroup({ maxClusterRadius: 40 }).addTo(map);
    var checkins = L.layerGroup().addTo(map);
    var route = L.layerGroup().addTo(map);
    L.control.layers(null, {
      "村域覆盖率": villages, "对象状态": targets, "走访点": visits, "签到": checkins, "当天路线": route,
    }, { collapsed: true }).addTo(map);
    var status = document.getElementById("map-status");
    var pending = null;

    function query(extra) {
      var params = new URLSearchParams({ from: d.from, to: d.to, unit_id: d.unit });
      if (d.user) params.set("user_id", d.user);
      Object.keys(extra).forEach(function (k) { if (extra[k]) params.set(k, extra[k]); });
      return params.toString();
    }
    function bbox() {
      var b = map.getBounds();
      return [b.getWest(), b.getSouth(), b.getEast(), b.getNorth()].map(function (v) {
        return Math.max(-180, Math.min(180, v)).toFixed(5);
      }).join(",");
    }
    function getJSON(url, signal) {
      return fetch(url, { credentials: "same-origin", signal: signal }).then(function (r) {
        return r.json().then(function (body) {
          if (!r.ok) throw new Error(body.error || "加载失败");
          return body;
        });
      });
    }
    function cellIcon(p) {
      return L.divIcon({
        className: "cell-marker", iconSize: [38, 38],
        html: "<span title='从未走访 " + p.never + "'>" + p.count + "</span>",
      });
    }
    function drawTargets(fc) {
      villages.clearLayers(); targets.clearLayers();
      fc.features.forEach(function (f) {
        var p = f.properties, c = f.geometry.coordinates;
        if (p.layer === "village") { villages.addData(f); return; }
        if (p.layer === "cell") {
          L.marker([c[1], c[0]], { icon: cellIcon(p) })
            .bindPopup("此处 " + p.count + " 个对象：已走访 " + p.visited + "，未走访 " + p.due + "，从未走访 " + p.never)
            .addTo(targets);
          return;
        }
        L.circleMarker([c[1], c[0]], {
          radius: 6, weight: 1, color: "#222", fillColor: STATUS_COLORS[p.status], fillOpacity: 0.9,
          className: "target-marker status-" + p.status,
        }).bindPopup("<a href='/targets/" + p.id + "'>" + esc(p.name) + "</a><br>" + STATUS_LABELS[p.status])
          .addTo(targets);
      });
    }
    function drawVisits(fc) {
      visits.clearLayers(); checkins.clearLayers();
      var markers = [];
      fc.features.forEach(function (f) {
        var p = f.properties, c = f.geometry.coordinates;
        if (p.layer === "checkin") {
          L.marker([c[1], c[0]], { icon: L.divIcon({ className: "checkin-marker" + (p.off_site ? " off-site" : ""), iconSize: [12, 12] }) })
            .bindPopup("签到 · " + esc(p.who) + " · " + esc(p.target) + "<br>" + esc(p.at)).addTo(checkins);
          return;
        }
        var icon = p.layer === "cell"
          ? L.divIcon({ className: "cell-marker visits", iconSize: [38, 38], html: "<span>" + p.count + "</span>" })
          : L.divIcon({ className: "visit-marker", iconSize: [10, 10] });
        var m = L.marker([c[1], c[0]], { icon: icon });
        if (p.layer === "visit") m.bindPopup(esc(p.who) + " · " + esc(p.type) + "<br>" + esc(p.target) + "<br>" + esc(p.at));
        markers.push(m);
      });
      visits.addLayers(markers);
    }
    function refresh() {
      if (pending) pending.abort();
      pending = new AbortController();
      var signal = pending.signal;
      status.textContent = "加载中…";
      Promise.all([
        getJSON("/api/v1/map/targets?" + query({ bbox: bbox(), kind: d.kind }), signal).then(drawTargets),
        getJSON("/api/v1/map/visits?" + query({ bbox: bbox() }), signal).then(drawVisits),
      ]).then(function () {
        status.textContent = "";
        el.dataset.loaded = "1";
      }).catch(function (err) {
        if (err.name !== "AbortError") status.textContent = "地图数据加载失败：" + err.message;
      });
    }
    function drawRoute() {
      if (!d.user || !d.day) return Promise.resolve(null);
      var panel = document.getElementById("route-panel"), list = document.getElementById("route-list");
      return getJSON("/api/v1/map/route?user_id=" + d.user + "&day=" + d.day).then(function (fc) {
        route.clearLayers();
        list.innerHTML = "";
        panel.hidden = false;
        if (!fc.count) { list.innerHTML = "<li>这一天没有签到或走访记录。</li>"; return null; }
        var points = [];
        fc.features.forEach(function (f) {
          var p = f.properties, c = f.geometry.coordinates;
          if (p.layer === "route") {
            L.polyline(c.map(function (x) { return [x[1], x[0]]; }), { color: "#0d47a1", weight: 3, className: "route-line" }).addTo(route);
            return;
          }
          points.push([c[1], c[0]]);
          L.marker([c[1], c[0]], { icon: L.divIcon({ className: "route-stop", iconSize: [24, 24], html: "<span>" + p.seq + "</span>" }) })
            .bindPopup(p.seq + ". " + esc(p.at) + " " + esc(p.target)).addTo(route);
          var li = document.createElement("li");
          li.textContent = p.at + " " + (p.layer === "checkin" ? "签到 " : (p.type || "走访") + " ") + p.target;
          list.appendChild(li);
        });
        return points.length ? L.latLngBounds(points) : null;
      });
    }
    var b = d.bounds ? d.bounds.split(",").map(Number) : null;
    if (b && b.length === 4) map.fitBounds([[b[1], b[0]], [b[3], b[2]]], { padding: [20, 20] });
    else map.setView([29.5, 114.0], 11);
    drawRoute().then(function (bounds) {
      if (bounds) map.fitBounds(bounds, { padding: [40, 40], maxZoom: 16 });
      map.on("moveend", refresh);
      refresh();
    }).catch(function (err) { status.textContent = "路线加载失败：" + err.message; });
  }

  function scan() {
    var el = document.getElementById("map");
    if (!el) return;
    ensureLeaflet().then(function () { init(el); }).catch(function (err) {
      if (window.console) console.error(err);
      var out = document.getElementById("map-status");
      if (out) out.textContent = "地图加载失败：" + (err && err.message ? err.message : String(err || "请刷新页面重试"));
    });
  }
  if (window.minqingMapLoaded) { scan(); return; }  // re-run by a boosted navigation: listeners exist
  window.minqingMapLoaded = true;
  document.addEventListener("DOMContentLoaded", scan);
  document.addEventListener("htmx:load", scan);
  if (document.readyState !== "loading") scan();
})();
