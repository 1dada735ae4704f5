// 民情通 on the phone: registers the service worker, captures check-ins, visits and diary notes into the
// IndexedDB outbox when offline (or when posting fails), shrinks photos, syncs, shows "待同步 N 条",
// renders the 同步 page and the "有新版本，点击更新" prompt. Storage and protocol: outbox-core.js.
/* global MinqingOutbox, htmx */
(function () {
  "use strict";
  var O = window.MinqingOutbox;
  var MAX_SIDE = 1600, QUALITY = 0.8, SYNC_EVERY_MS = 60000;
  var syncing = false, lastMessage = "";

  // The logged-in user, read from the badge: hx-boost swaps the body's content but not its attributes,
  // so after a boosted login or logout <body data-user> still names the previous user.
  function user() { var b = document.querySelector("[data-outbox-badge]"); return b && b.dataset.user || ""; }
  function csrf() { var m = document.querySelector('meta[name="csrf-token"]'); return m ? m.content : ""; }
  function $(sel, root) { return (root || document).querySelector(sel); }
  function $all(sel, root) { return Array.prototype.slice.call((root || document).querySelectorAll(sel)); }
  function esc(s) { var d = document.createElement("div"); d.textContent = s == null ? "" : String(s); return d.innerHTML; }

  function flash(html, kind) {
    var box = $("#flash");
    if (!box) return;
    box.innerHTML = '<p class="' + (kind || "notice") + '">' + html + "</p>";
    window.scrollTo(0, 0);
  }

  // ---- photos: shrink on the phone (long side ≤ 1600 px, JPEG 0.8), keep as Blobs -------------------
  async function shrink(file) {
    var bitmap = await createImageBitmap(file, { imageOrientation: "from-image" });
    var scale = Math.min(1, MAX_SIDE / Math.max(bitmap.width, bitmap.height));
    var w = Math.round(bitmap.width * scale), h = Math.round(bitmap.height * scale);
    var canvas = document.createElement("canvas");
    canvas.width = w; canvas.height = h;
    canvas.getContext("2d").drawImage(bitmap, 0, 0, w, h);
    bitmap.close();
    var blob = await new Promise(function (resolve, reject) {
      canvas.toBlob(function (b) { b ? resolve(b) : reject(new Error("toBlob")); }, "image/jpeg", QUALITY);
    });
    return O.carryExif(file, blob);
  }

  async function shrinkAll(input) {
    var files = input ? Array.prototype.slice.call(input.files || []) : [];
    var out = [];
    for (var i = 0; i < files.length; i++) {
      try { out.push(await shrink(files[i])); } catch (e) { out.push(files[i]); } // not decodable here: the server decides
    }
    return out;
  }

  // ---- forms → outbox items ---------------------------------------------------------------------------
  function num(form, name) { var v = (form.elements[name] && form.elements[name].value || "").trim(); return v === "" ? null : Number(v); }
  function title() { var h = $("main h1"); return h ? h.textContent.replace(/\s+/g, " ").trim() : ""; }

  function checkinItem(form) {
    return { kind: "checkin", label: "签到 · " + title().replace(/ (村|户|企业|司机|项目)$/, ""), body: {
      target_id: Number(form.elements.target_id.value), lat: num(form, "lat"), lon: num(form, "lon"),
      accuracy: num(form, "accuracy"), created_at: O.isoLocal(new Date()) } };
  }

  function visitItem(form, photos) {
    var fd = new FormData(form);
    var texts = fd.getAll("concern_text"), cats = fd.getAll("concern_category");
    var concerns = [];
    texts.forEach(function (t, i) { if (String(t).trim()) concerns.push({ uuid: O.uuid4(), text: String(t), category: cats[i] || "problem" }); });
    var when = fd.get("visited_at") ? new Date(String(fd.get("visited_at"))) : new Date();
    var photoUuids = photos.map(function () { return O.uuid4(); });
    return { kind: "visit", label: title(), photoUuids: photoUuids, body: {
      target_id: Number(fd.get("target_id")), visit_type: String(fd.get("visit_type") || "home"),
      visited_at: O.isoLocal(isNaN(when) ? new Date() : when), created_at: O.isoLocal(new Date()),
      lat: num(form, "lat"), lon: num(form, "lon"), accuracy: num(form, "accuracy"),
      notes: String(fd.get("notes") || ""), topics: fd.getAll("topics").map(String), concerns: concerns,
      photo_uuids: photoUuids } };
  }

  function concernItem(form) {
    var who = $("strong", form);
    return { kind: "concern", label: "诉求 · " + (who ? who.textContent.trim() : ""), body: {
      target_id: Number(form.elements.target_id.value), text: form.elements.text.value,
      category: form.elements.category.value, urgency: form.elements.urgency.value, created_at: O.isoLocal(new Date()) } };
  }

  function noteItem(form) {
    var day = form.elements.day.value;
    return { kind: "note", label: "日志备注 · " + day, body: { day: day, note: form.elements.note.value,
      base_version: Number(form.elements.version.value || 0) } };
  }

  async function saveLocally(form, made, photos) {
    var u = form.elements.uuid ? form.elements.uuid.value : O.uuid4();
    if (!u || await O.getItem(u)) u = O.uuid4(); // a cached form shown twice must not reuse a uuid
    var item = { uuid: u, user: user(), kind: made.kind, label: made.label, body: made.body };
    var photoRows = (made.photoUuids || []).map(function (pu, i) {
      return { uuid: pu, item: u, user: user(), blob: photos[i], size: photos[i].size };
    });
    await O.addItem(item, photoRows);
    if (navigator.storage && navigator.storage.persist) navigator.storage.persist().catch(function () {});
    resetForm(form);
    await updateBadge();
    flash(esc(made.note || "") + "已保存在手机上（" + esc(made.label) + "），联网后自动上传。<a href=\"/sync\">查看待同步</a>");
    registerBackgroundSync();
    if (navigator.onLine) syncNow();
  }

  function resetForm(form) {
    if (form.id === "visit-form" || form.id === "concern-form") {
      form.reset();
      var when = form.elements.visited_at;
      if (when) when.value = O.isoLocal(new Date()).slice(0, 19);
    }
    if (form.elements.uuid) form.elements.uuid.value = O.uuid4();
  }

  function gpsMissing(form, made) {
    var needs = made.kind === "checkin" || (made.kind === "visit" && made.body.visit_type !== "phone");
    return needs && (made.body.lat === null || made.body.lon === null);
  }

  async function showResponse(response) {
    var html = await response.text();
    var doc = new DOMParser().parseFromString(html, "text/html");
    var fresh = doc.querySelector("#main"), main = $("#main");
    if (!fresh || !main) { document.open(); document.write(html); document.close(); return; }
    if (window.htmx && htmx.swap) htmx.swap(main, fresh.outerHTML, { swapStyle: "outerHTML" });
    else main.innerHTML = fresh.innerHTML;
    window.scrollTo(0, 0);
  }

  async function capture(form) {
    var button = $("button[type=submit]", form);
    if (button) button.disabled = true;
    try {
      var photos = form.id === "visit-form" ? await shrinkAll(form.elements.photos) : [];
      var made = form.id === "checkin-form" ? checkinItem(form) : form.id === "visit-form" ? visitItem(form, photos)
        : form.id === "concern-form" ? concernItem(form) : noteItem(form);
      if (gpsMissing(form, made)) {
        flash("还没有定位成功，请到空旷处稍候，看到“已定位”后再提交。", "error");
        return;
      }
      if (navigator.onLine) {
        var fd = new FormData(form);
        if (form.id === "visit-form") {
          fd.delete("photos");
          photos.forEach(function (b, i) { fd.append("photos", b, "photo-" + (i + 1) + ".jpg"); });
        }
        var response = null;
        try {
          response = await fetch(form.action, { method: "POST", body: fd, headers: { "X-CSRF-Token": csrf() }, credentials: "same-origin" });
        } catch (e) { response = null; } // no network after all: keep it on the phone
        var expired = response && (response.status === 401 || new URL(response.url).pathname === "/login" ||
          (response.status === 403 && /CSRF/.test(await response.clone().text())));
        if (response && response.status < 500 && !expired) {
          if (response.ok && response.redirected) { window.location.assign(response.url); return; }
          await showResponse(response);
          return;
        }
        // Login or page expired: keep the record (it is this user's) and upload it after logging in again.
        if (expired) made.note = "登录或页面已过期，请重新登录；";
      }
      await saveLocally(form, made, photos);
    } catch (e) {
      flash("保存失败：" + esc(e && e.message || e) + "。请重试。", "error");
    } finally {
      if (button) button.disabled = false;
    }
  }

  document.addEventListener("submit", function (e) {
    var form = e.target;
    var ours = ["checkin-form", "visit-form", "concern-form"].indexOf(form.id) >= 0 || form.getAttribute("action") === "/diary/note";
    if (!user() || !ours) return;
    e.preventDefault();
    e.stopImmediatePropagation();
    capture(form);
  }, true);

  // ---- badge, sync ------------------------------------------------------------------------------------
  async function updateBadge() {
    var n = await O.pendingCount(user());
    $all("[data-outbox-count]").forEach(function (el) { el.textContent = String(n); });
    $all("[data-outbox-badge]").forEach(function (el) { el.classList.toggle("has-pending", n > 0); });
    if ($("[data-outbox-list]")) await renderSyncPage();
    return n;
  }

  function progress(done, total) {
    var bar = $("[data-sync-progress]"), status = $("[data-sync-status]");
    if (bar) { bar.hidden = total === 0; bar.max = Math.max(total, 1); bar.value = done; }
    if (status && total) status.textContent = "正在上传 " + done + "/" + total;
  }

  async function syncNow() {
    if (syncing || !user()) return;
    syncing = true;
    try {
      var result = await O.syncAll(user(), csrf(), progress);
      lastMessage = result.ok ? (result.total ? "同步完成。" : "") : result.message;
    } catch (e) {
      lastMessage = "同步出错：" + (e && e.message || e);
    } finally {
      syncing = false;
      var bar = $("[data-sync-progress]");
      if (bar) bar.hidden = true;
      await updateBadge();
    }
  }

  function registerBackgroundSync() {
    if (!("serviceWorker" in navigator)) return;
    navigator.serviceWorker.ready.then(function (reg) {
      if (reg.sync) return reg.sync.register("minqing-outbox");
    }).catch(function () {});
  }

  // ---- the 同步 page -----------------------------------------------------------------------------------
  var STATE_LABELS = { pending: "待上传", sent: "记录已上传，照片上传中", rejected: "被退回", conflict: "版本冲突" };

  function itemHtml(it, photoCount, mine) {
    var h = '<li class="outbox-item state-' + it.state + '" data-item="' + esc(it.uuid) + '">' +
      '<div class="row-title">' + esc(it.label || it.kind) + '</div>' +
      '<div class="meta">' + esc(STATE_LABELS[it.state] || it.state) + " · 保存于 " + esc(new Date(it.saved).toLocaleString("zh-CN")) +
      (photoCount ? " · 照片 " + photoCount + " 张" : "") + (mine ? "" : " · 属于 " + esc(it.user) + "，需其本人登录后上传") + "</div>";
    if (it.state === "rejected") {
      h += '<p class="error reason">' + esc(it.error) + "</p>";
      if (it.body && typeof (it.body.notes !== undefined ? it.body.notes : it.body.text) === "string") {
        h += '<label>修改内容<textarea data-fix>' + esc(it.body.notes !== undefined ? it.body.notes : it.body.text) + "</textarea></label>";
      }
      h += '<div class="actions"><button type="button" data-retry>修改后重新上传</button><button type="button" data-discard>删除</button></div>';
    } else if (it.state === "conflict") {
      h += '<p class="error">' + esc(it.error) + '</p><div class="conflict"><p><strong>其他设备上的版本：</strong></p><blockquote>' +
        esc(it.conflict.current_note) + '</blockquote><p><strong>这部手机上的版本：</strong></p><blockquote>' + esc(it.body.note) +
        '</blockquote></div><div class="actions"><button type="button" data-keep-mine>保留手机上的版本</button>' +
        '<button type="button" data-take-theirs>采用其他设备的版本</button></div>';
    }
    return h + "</li>";
  }

  async function renderSyncPage() {
    var list = $("[data-outbox-list]");
    if (!list) return;
    var items = await O.listItems(), html = "";
    for (var i = 0; i < items.length; i++) html += itemHtml(items[i], (await O.itemPhotos(items[i].uuid)).length, items[i].user === user());
    list.innerHTML = html || '<li class="empty">没有待同步的记录。</li>';
    var mine = items.filter(function (it) { return it.user === user(); }).length;
    var status = $("[data-sync-status]");
    if (status && !syncing) status.textContent = (lastMessage ? lastMessage + " " : "") + (mine ? "待同步 " + mine + " 条。" : "全部已同步。");
    var last = await O.getMeta("lastSync:" + user());
    var lastEl = $("[data-sync-last]");
    if (lastEl) lastEl.textContent = "上次同步：" + (last ? new Date(last).toLocaleString("zh-CN") : "尚未同步");
    var storageEl = $("[data-sync-storage]");
    if (storageEl && navigator.storage && navigator.storage.estimate) {
      var est = await navigator.storage.estimate(), persisted = navigator.storage.persisted ? await navigator.storage.persisted() : false;
      storageEl.textContent = "手机存储：本应用已用 " + (est.usage / 1048576).toFixed(1) + " MB（待传照片 " +
        ((await O.bytesUsed(user())) / 1048576).toFixed(1) + " MB）" + (persisted ? " · 已设为持久保存" : "");
    }
  }

  document.addEventListener("click", async function (e) {
    var t = e.target;
    if (t.closest("[data-sync-now]")) { lastMessage = ""; if (navigator.onLine) await syncNow(); else { lastMessage = "当前没有网络，联网后自动上传。"; await updateBadge(); } return; }
    var li = t.closest("[data-item]");
    if (!li) return;
    var it = await O.getItem(li.dataset.item);
    if (!it) return;
    if (t.closest("[data-discard]") || t.closest("[data-take-theirs]")) {
      if (!window.confirm("确定删除这条手机上的记录吗？删除后无法恢复。")) return;
      await O.removeItem(it.uuid);
    } else if (t.closest("[data-retry]")) {
      var fix = $("[data-fix]", li);
      if (fix) { if (it.body.notes !== undefined) it.body.notes = fix.value; else it.body.text = fix.value; }
      it.state = "pending"; it.error = null;
      await O.putItem(it);
      if (navigator.onLine) await syncNow();
    } else if (t.closest("[data-keep-mine]")) {
      it.body.base_version = it.conflict.current_version; it.state = "pending"; it.error = null;
      await O.putItem(it);
      if (navigator.onLine) await syncNow();
    } else return;
    await updateBadge();
  });

  // ---- service worker: registration, update prompt, pages to keep for offline -------------------------
  function updatePrompt(reg) {
    if (!reg.waiting || !navigator.serviceWorker.controller || $("#sw-update")) return;
    var b = document.createElement("button");
    b.id = "sw-update"; b.type = "button"; b.className = "update-prompt"; b.textContent = "有新版本，点击更新";
    b.addEventListener("click", function () {
      navigator.serviceWorker.addEventListener("controllerchange", function () { window.location.reload(); });
      reg.waiting.postMessage({ type: "skip-waiting" });
    });
    document.body.appendChild(b);
  }

  function warmLinks() {
    if (!navigator.onLine || !navigator.serviceWorker.controller || !user()) return;
    var urls = ["/today", "/sync", "/diary", "/api/v1/assignments"];
    $all('a[href^="/visits/new?"], a[href^="/ledger/new?target_id="]').forEach(function (a) { urls.push(a.getAttribute("href")); });
    navigator.serviceWorker.controller.postMessage({ type: "warm", urls: urls });
  }

  function startServiceWorker() {
    if (!("serviceWorker" in navigator)) return;
    navigator.serviceWorker.register("/sw.js", { scope: "/" }).then(function (reg) {
      updatePrompt(reg);
      reg.addEventListener("updatefound", function () {
        var w = reg.installing;
        if (w) w.addEventListener("statechange", function () { if (w.state === "installed") updatePrompt(reg); });
      });
      setInterval(function () { reg.update().catch(function () {}); }, 30 * 60000);
    }).catch(function () {});
    navigator.serviceWorker.addEventListener("message", function (e) { if (e.data && e.data.type === "synced") updateBadge(); });
  }

  // Who is using the phone now: the service worker only uploads for this user; on a change of user the
  // cached pages of the previous one are dropped (their outbox items stay, waiting for them).
  async function noteUser() {
    var u = user() || null;
    var previous = await O.getMeta("user");
    await O.setMeta("user", u);
    await O.setMeta("csrf", csrf());
    if (previous && previous !== u && navigator.serviceWorker && navigator.serviceWorker.controller) {
      navigator.serviceWorker.controller.postMessage({ type: "clear-pages" });
    }
  }

  function freshUuids(root) {
    $all("#checkin-form [name=uuid], #visit-form [name=uuid], #concern-form [name=uuid]", root).forEach(function (i) {
      if (!i.dataset.fresh) { i.dataset.fresh = "1"; i.value = O.uuid4(); }
    });
  }

  // 今日 offline: order my targets by distance using the coordinates kept from /api/v1/assignments.
  function metres(a, b) {
    var r = Math.PI / 180, dLat = (b.lat - a.lat) * r, dLon = (b.lon - a.lon) * r;
    var h = Math.pow(Math.sin(dLat / 2), 2) + Math.cos(a.lat * r) * Math.cos(b.lat * r) * Math.pow(Math.sin(dLon / 2), 2);
    return 12742000 * Math.asin(Math.sqrt(h));
  }

  function nearestOffline(root) {
    var list = $("[data-nearest]", root);
    if (!list || navigator.onLine || !navigator.geolocation || list.dataset.offlineSorted) return;
    list.dataset.offlineSorted = "1";
    navigator.geolocation.getCurrentPosition(async function (pos) {
      var here = { lat: pos.coords.latitude, lon: pos.coords.longitude }, where = {};
      try { (await (await fetch("/api/v1/assignments")).json()).forEach(function (a) { where[a.target_id] = a; }); } catch (e) { return; }
      var rows = $all("li[data-target-id]", list).map(function (li) {
        var t = where[li.dataset.targetId];
        return { li: li, d: t && t.lat != null ? metres(here, t) : Infinity };
      }).sort(function (a, b) { return a.d - b.d; });
      var ul = rows.length ? rows[0].li.parentNode : null;
      rows.forEach(function (r) {
        ul.appendChild(r.li);
        var m = $(".meta", r.li);
        if (m && isFinite(r.d)) m.insertAdjacentHTML("afterbegin", '<span class="distance">' + (r.d >= 1000 ? (r.d / 1000).toFixed(1) + " 公里" : Math.round(r.d) + " 米") + "</span> · ");
      });
      var meta = $(".meta", list);
      if (meta) meta.textContent = "离线：已按手机上保存的坐标由近到远排序";
    }, function () {}, { enableHighAccuracy: true, timeout: 15000, maximumAge: 60000 });
  }

  function onPage(root) {
    noteUser();
    freshUuids(root);
    updateBadge();
    warmLinks();
    nearestOffline(root);
  }

  document.addEventListener("DOMContentLoaded", function () {
    startServiceWorker();
    onPage(document);
    if (navigator.onLine) syncNow();
    window.addEventListener("online", function () { syncNow(); });
    setInterval(function () { if (navigator.onLine) syncNow(); }, SYNC_EVERY_MS);
  });
  var pageTimer = null;
  document.addEventListener("htmx:load", function (e) {
    freshUuids(e.detail.elt);
    clearTimeout(pageTimer); // a boosted navigation loads many elements: refresh the page state once
    pageTimer = setTimeout(function () { onPage(document); }, 50);
  });
  window.MinqingSync = { syncNow: syncNow, updateBadge: updateBadge };
})();
