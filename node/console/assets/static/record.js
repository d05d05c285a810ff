// FLX console: records a voice or video message (MediaRecorder) or takes a
// chosen file, and uploads it in pieces to the node's resumable upload.
(function () {
  "use strict";
  var root = document.getElementById("recorder");
  if (!root || !window.fetch || !window.crypto || !crypto.subtle) return;
  var $ = function (id) { return document.getElementById(id); };
  var status = $("rec-status"), start = $("rec-start"), stop = $("rec-stop"), preview = $("rec-preview");
  var say = function (key, extra) { status.textContent = status.dataset[key] + (extra ? " " + extra : ""); };
  var rec = null, stream = null, parts = [];

  function hex(buf) {
    return Array.prototype.map.call(new Uint8Array(buf), function (b) { return ("0" + b.toString(16)).slice(-2); }).join("");
  }

  function answer(r) {
    return r.json().then(function (a) { if (!r.ok) throw new Error(a.message || r.status); return a; });
  }

  function upload(blob) {
    say("uploading");
    var type = (blob.type || "application/octet-stream").split(";")[0].trim().toLowerCase();
    var piece = parseInt(root.dataset.piece, 10);
    return blob.arrayBuffer().then(function (buf) {
      return crypto.subtle.digest("SHA-256", buf).then(function (d) {
        var sum = hex(d);
        var form = new URLSearchParams({ csrf: root.dataset.csrf, sha256: sum, size: String(buf.byteLength), type: type });
        return fetch(root.dataset.start, { method: "POST", credentials: "same-origin", body: form }).then(answer).then(function write(a) {
          // The node keeps the recording cleaned of its metadata, under the
          // sha256 it answers.
          if (a.complete) { location.href = root.dataset.player + (a.sha256 || sum); return; }
          var end = Math.min(a.offset + piece, buf.byteLength);
          say("uploading", Math.round(100 * a.offset / buf.byteLength) + " %");
          return fetch(root.dataset.upload + a.upload + "?offset=" + a.offset, {
            method: "POST", credentials: "same-origin", body: buf.slice(a.offset, end),
            headers: { "Content-Type": "application/octet-stream", "X-Flx-Csrf": root.dataset.csrf }
          }).then(answer).then(function (b) { b.upload = a.upload; return write(b); });
        });
      });
    }).catch(function (e) { say("failed", e.message); });
  }

  start.addEventListener("click", function () {
    var video = $("rec-video").checked;
    navigator.mediaDevices.getUserMedia({ audio: true, video: video }).then(function (s) {
      stream = s;
      preview.srcObject = s;
      preview.play();
      parts = [];
      rec = new MediaRecorder(s);
      rec.ondataavailable = function (e) { if (e.data && e.data.size) parts.push(e.data); };
      rec.onstop = function () {
        stream.getTracks().forEach(function (t) { t.stop(); });
        preview.srcObject = null;
        upload(new Blob(parts, { type: rec.mimeType }));
      };
      rec.start(1000);
      start.disabled = true;
      stop.disabled = false;
      say("recording");
    }).catch(function () { say("denied"); });
  });

  stop.addEventListener("click", function () {
    if (rec && rec.state !== "inactive") rec.stop();
    stop.disabled = true;
  });

  $("rec-file").addEventListener("change", function (e) {
    if (e.target.files.length) upload(e.target.files[0]);
  });
})();
