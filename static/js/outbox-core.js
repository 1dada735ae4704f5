// 民情通 outbox core: the IndexedDB outbox (via the pinned `idb` library) and the sync protocol of
// docs/sync.md. No DOM here: pages use it (static/js/outbox.js) and so does the service worker
// (Background Sync). Items belong to the user who made them and are only ever sent for that user.
(function (root) {
  "use strict";
  var DB_NAME = "minqing-outbox";
  var BATCH = 100; // items per POST /api/v1/sync (the server takes up to 500)
  var dbPromise = null;

  function db() {
    if (!dbPromise) {
      dbPromise = root.idb.openDB(DB_NAME, 1, {
        upgrade: function (d) {
          d.createObjectStore("items", { keyPath: "uuid" }).createIndex("user", "user");
          d.createObjectStore("photos", { keyPath: "uuid" }).createIndex("item", "item");
          d.createObjectStore("meta");
        },
      });
    }
    return dbPromise;
  }

  function uuid4() {
    if (root.crypto && root.crypto.randomUUID) return root.crypto.randomUUID();
    var b = root.crypto.getRandomValues(new Uint8Array(16));
    b[6] = (b[6] & 0x0f) | 0x40; b[8] = (b[8] & 0x3f) | 0x80;
    var h = Array.prototype.map.call(b, function (x) { return (x + 256).toString(16).slice(1); }).join("");
    return h.slice(0, 8) + "-" + h.slice(8, 12) + "-" + h.slice(12, 16) + "-" + h.slice(16, 20) + "-" + h.slice(20);
  }

  // ISO 8601 with the device's own offset, e.g. 2026-05-01T09:30:00+08:00.
  function isoLocal(date) {
    var pad = function (n) { return String(n).padStart(2, "0"); };
    var off = -date.getTimezoneOffset();
    var sign = off >= 0 ? "+" : "-";
    off = Math.abs(off);
    return date.getFullYear() + "-" + pad(date.getMonth() + 1) + "-" + pad(date.getDate()) + "T" +
      pad(date.getHours()) + ":" + pad(date.getMinutes()) + ":" + pad(date.getSeconds()) +
      sign + pad(Math.floor(off / 60)) + ":" + pad(off % 60);
  }

  // The camera's EXIF (capture time, GPS: evidence the integrity checks compare with the visit) is copied
  // into the shrunk JPEG, with Orientation reset to 1 because the canvas already drew the pixels upright.
  async function carryExif(original, shrunk) {
    var src = new Uint8Array(await original.slice(0, 128 * 1024).arrayBuffer());
    if (src[0] !== 0xff || src[1] !== 0xd8) return shrunk;
    var i = 2, app1 = null;
    while (i + 10 < src.length && src[i] === 0xff) {
      var marker = src[i + 1], len = (src[i + 2] << 8) | src[i + 3];
      if (marker === 0xe1 && String.fromCharCode.apply(null, src.slice(i + 4, i + 8)) === "Exif") {
        app1 = src.slice(i, i + 2 + len);
        break;
      }
      if (marker === 0xda) break; // image data: no EXIF before it
      i += 2 + len;
    }
    if (!app1 || app1.length < 20) return shrunk;
    try { uprightOrientation(app1); } catch (e) { return shrunk; }
    var out = new Uint8Array(await shrunk.arrayBuffer());
    return new Blob([out.slice(0, 2), app1, out.slice(2)], { type: "image/jpeg" });
  }

  function uprightOrientation(app1) {
    var t = 10; // FF E1, length, "Exif\0\0": the TIFF header starts here
    var little = app1[t] === 0x49;
    var u16 = function (o) { return little ? app1[o] | (app1[o + 1] << 8) : (app1[o] << 8) | app1[o + 1]; };
    var u32 = function (o) { return little ? (u16(o) | (u16(o + 2) << 16)) >>> 0 : ((u16(o) << 16) | u16(o + 2)) >>> 0; };
    var ifd = t + u32(t + 4), n = u16(ifd);
    for (var k = 0; k < n; k++) {
      var e = ifd + 2 + k * 12;
      if (e + 12 > app1.length) return;
      if (u16(e) === 0x0112) { app1[e + 8] = little ? 1 : 0; app1[e + 9] = little ? 0 : 1; }
    }
  }

  // item: {uuid, user, kind, label, body, state: pending|sent|rejected|conflict, error, saved}
  // photo: {uuid, item, user, blob, size}; a photo record is deleted once the server has it.
  async function addItem(item, photos) {
    var d = await db();
    var tx = d.transaction(["items", "photos"], "readwrite");
    item.state = item.state || "pending";
    item.saved = item.saved || Date.now();
    tx.objectStore("items").put(item);
    (photos || []).forEach(function (p) { tx.objectStore("photos").put(p); });
    await tx.done;
    return item;
  }

  async function listItems() {
    var items = await (await db()).getAll("items");
    return items.sort(function (a, b) { return a.saved - b.saved; });
  }

  async function itemPhotos(itemUuid) {
    return (await db()).getAllFromIndex("photos", "item", itemUuid);
  }

  async function getItem(u) { return (await db()).get("items", u); }
  async function putItem(item) { return (await db()).put("items", item); }

  async function removeItem(itemUuid) {
    var d = await db();
    var tx = d.transaction(["items", "photos"], "readwrite");
    var keys = await tx.objectStore("photos").index("item").getAllKeys(itemUuid);
    keys.forEach(function (k) { tx.objectStore("photos").delete(k); });
    tx.objectStore("items").delete(itemUuid);
    await tx.done;
  }

  async function getMeta(key) { return (await db()).get("meta", key); }
  async function setMeta(key, value) { return (await db()).put("meta", value, key); }

  // What the badge counts: my items not yet fully acknowledged (including rejected ones).
  async function pendingCount(user) {
    if (!user) return 0;
    return (await (await db()).getAllFromIndex("items", "user", user)).length;
  }

  async function bytesUsed(user) {
    var photos = await (await db()).getAll("photos");
    return photos.filter(function (p) { return p.user === user; })
      .reduce(function (sum, p) { return sum + (p.size || 0); }, 0);
  }

  function SyncStop(message) { this.message = message; }

  async function send(method, url, csrf, body, type) {
    var headers = { "X-CSRF-Token": csrf || "", Accept: "application/json" };
    if (type) headers["Content-Type"] = type;
    var response;
    try {
      response = await fetch(url, { method: method, headers: headers, body: body, credentials: "same-origin" });
    } catch (e) {
      throw new SyncStop("网络不通，联网后会自动重试。");
    }
    var data = {};
    try { data = await response.json(); } catch (e) { /* not JSON: a proxy or an outage page */ }
    if (response.status === 401) throw new SyncStop("登录已过期，请重新登录后再同步。");
    if (response.status >= 500 || response.status === 429 || response.status === 408) {
      throw new SyncStop((data && data.error) || "服务器暂时无法处理，稍后会自动重试。");
    }
    if (response.status === 403 && /CSRF/.test((data && data.error) || "")) {
      throw new SyncStop("页面已过期，请刷新页面后再同步。");
    }
    return { status: response.status, data: data };
  }

  async function markRejected(item, error) {
    item.state = "rejected";
    item.error = error;
    await putItem(item);
  }

  async function settle(item) {
    // An item leaves the outbox only when the server has the record and every one of its photos.
    if (item.state === "sent" && (await itemPhotos(item.uuid)).length === 0) await removeItem(item.uuid);
  }

  async function sendRecords(items, ctx) {
    for (var i = 0; i < items.length; i += BATCH) {
      var chunk = items.slice(i, i + BATCH);
      var r = await send("POST", "/api/v1/sync", ctx.csrf, JSON.stringify({ items: chunk.map(function (it) {
        return Object.assign({}, it.body, { uuid: it.uuid, kind: it.kind, user: it.user });
      }) }), "application/json");
      if (r.status !== 200 || !r.data.results) {
        for (var k = 0; k < chunk.length; k++) await markRejected(chunk[k], r.data.error || "服务器拒收（" + r.status + "）");
        continue;
      }
      for (var j = 0; j < chunk.length; j++) {
        var result = r.data.results[j] || {};
        if (result.status === "created" || result.status === "duplicate") {
          chunk[j].state = "sent";
          chunk[j].result = result;
          await putItem(chunk[j]);
          await settle(chunk[j]);
        } else {
          await markRejected(chunk[j], result.error || "服务器拒收，原因未知。");
        }
        ctx.step();
      }
    }
  }

  async function sendNote(item, ctx) {
    var b = item.body;
    var r = await send("PUT", "/api/v1/diary/notes/" + b.day, ctx.csrf,
      JSON.stringify({ note: b.note, base_version: b.base_version }), "application/json");
    if (r.status === 200) await removeItem(item.uuid);
    else if (r.status === 409 && r.data.current_version !== undefined) {
      item.state = "conflict";
      item.error = r.data.error;
      item.conflict = { current_version: r.data.current_version, current_note: r.data.current_note };
      await putItem(item);
    } else await markRejected(item, r.data.error || "服务器拒收（" + r.status + "）");
    ctx.step();
  }

  async function sendPhotos(item, ctx) {
    var photos = await itemPhotos(item.uuid);
    for (var i = 0; i < photos.length; i++) {
      var p = photos[i];
      var r = await send("PUT", "/api/v1/photos/" + p.uuid, ctx.csrf, p.blob, p.blob.type || "image/jpeg");
      if (r.status === 200 || r.status === 201) await (await db()).delete("photos", p.uuid);
      else { await markRejected(item, "照片上传失败：" + (r.data.error || r.status)); return; }
      ctx.step();
    }
    await settle(item);
  }

  async function syncOnce(user, csrf, onProgress) {
    var mine = (await listItems()).filter(function (it) { return it.user === user; });
    var records = mine.filter(function (it) { return it.state === "pending" && it.kind !== "note"; });
    var notes = mine.filter(function (it) { return it.state === "pending" && it.kind === "note"; });
    var withPhotos = mine.filter(function (it) { return it.state === "pending" || it.state === "sent"; });
    var photoCount = 0;
    for (var i = 0; i < withPhotos.length; i++) photoCount += (await itemPhotos(withPhotos[i].uuid)).length;
    var ctx = { csrf: csrf, done: 0, total: records.length + notes.length + photoCount };
    ctx.step = function () { ctx.done++; if (onProgress) onProgress(ctx.done, ctx.total); };
    if (onProgress) onProgress(0, ctx.total);
    try {
      await sendRecords(records, ctx);
      for (var n = 0; n < notes.length; n++) await sendNote(notes[n], ctx);
      for (var k = 0; k < withPhotos.length; k++) {
        var fresh = await getItem(withPhotos[k].uuid);
        if (fresh && fresh.state === "sent") await sendPhotos(fresh, ctx);
      }
    } catch (e) {
      if (e instanceof SyncStop) return { ok: false, message: e.message, total: ctx.total };
      throw e;
    }
    await setMeta("lastSync:" + user, Date.now());
    return { ok: true, total: ctx.total };
  }

  // Upload everything of `user`. One sync at a time per phone (pages and the service worker share it).
  async function syncAll(user, csrf, onProgress) {
    if (!user) return { ok: false, message: "请先登录。" };
    if (root.navigator && root.navigator.locks) {
      return root.navigator.locks.request("minqing-sync", function () { return syncOnce(user, csrf, onProgress); });
    }
    return syncOnce(user, csrf, onProgress);
  }

  root.MinqingOutbox = {
    db: db, uuid4: uuid4, isoLocal: isoLocal, carryExif: carryExif, addItem: addItem, listItems: listItems, getItem: getItem,
    putItem: putItem, removeItem: removeItem, itemPhotos: itemPhotos, getMeta: getMeta, setMeta: setMeta,
    pendingCount: pendingCount, bytesUsed: bytesUsed, syncAll: syncAll,
  };
})(typeof self !== "undefined" ? self : this);
