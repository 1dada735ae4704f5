// 民情通: htmx settings, the CSRF header, and GPS capture for forms. Nothing here is needed for the
// pages to work without JavaScript except GPS, which the browser only gives to scripts.
(function () {
  "use strict";
  var csrf = function () {
    var m = document.querySelector('meta[name="csrf-token"]');
    return m ? m.content : "";
  };
  document.addEventListener("htmx:configRequest", function (e) {
    e.detail.headers["X-CSRF-Token"] = csrf();
  });
  document.addEventListener("DOMContentLoaded", function () {
    if (window.htmx) {
      // Show 4xx error fragments in place (they carry the Chinese message); never swap 5xx pages.
      htmx.config.responseHandling = [
        { code: "204", swap: false },
        { code: "[23]..", swap: true },
        { code: "4..", swap: true, error: false },
        { code: "...", swap: false, error: true },
      ];
    }
  });

  // <form data-gps>: fill hidden lat/lon/accuracy fields from the phone's GPS and show the fix.
  function fillGps(form) {
    var out = form.querySelector("[data-gps-status]");
    if (!navigator.geolocation) { if (out) out.textContent = "此设备不支持定位"; return; }
    if (out) out.textContent = "正在定位…";
    navigator.geolocation.getCurrentPosition(function (pos) {
      form.querySelector("[name=lat]").value = pos.coords.latitude.toFixed(6);
      form.querySelector("[name=lon]").value = pos.coords.longitude.toFixed(6);
      form.querySelector("[name=accuracy]").value = Math.round(pos.coords.accuracy);
      if (out) out.textContent = "已定位（精度约 " + Math.round(pos.coords.accuracy) + " 米）";
      form.dispatchEvent(new CustomEvent("minqing:gps", { bubbles: true }));
    }, function (err) {
      if (out) out.textContent = "无法定位：" + (err.code === 1 ? "请允许使用位置信息" : "请到空旷处重试");
    }, { enableHighAccuracy: true, timeout: 15000, maximumAge: 60000 });
  }
  function scan(root) {
    root.querySelectorAll("form[data-gps]").forEach(function (f) {
      if (!f.dataset.gpsDone) { f.dataset.gpsDone = "1"; fillGps(f); }
    });
    // Home list: ask the server for my targets sorted by distance from here.
    root.querySelectorAll("[data-nearest]").forEach(function (el) {
      if (el.dataset.nearestDone || !navigator.geolocation) return;
      el.dataset.nearestDone = "1";
      navigator.geolocation.getCurrentPosition(function (pos) {
        var url = el.dataset.nearest + (el.dataset.nearest.indexOf("?") < 0 ? "?" : "&") +
          "lat=" + pos.coords.latitude.toFixed(6) + "&lon=" + pos.coords.longitude.toFixed(6);
        if (window.htmx) htmx.ajax("GET", url, { target: el, swap: "outerHTML" });
      }, function () {}, { enableHighAccuracy: true, timeout: 15000, maximumAge: 60000 });
    });
  }
  document.addEventListener("DOMContentLoaded", function () { scan(document); });
  document.addEventListener("htmx:load", function (e) { scan(e.detail.elt); });
})();
