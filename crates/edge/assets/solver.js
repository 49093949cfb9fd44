// Gatehouse proof-of-work solver. The challenge page loads it; API clients can run it under
// Node (`node solver.js '<challenge JSON>'` prints the counter). It finds a counter whose hash
// starts with `difficulty` zero bits:
//   sha256:          SHA-256(token ‖ counter)
//   balloon-sha256:  Balloon-SHA-256, password = counter, salt = token, s = memory_kib·32
//                    blocks, t = 1, δ = 3 (the paper's algorithm, as RustCrypto computes it)
// where counter is 8 bytes little-endian. No dependencies: crypto.subtle is async and needs a
// secure context, so SHA-256 is written out here.
(function (root) {
  "use strict";
  var K = new Uint32Array([
    0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5,
    0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174,
    0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
    0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967,
    0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
    0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
    0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
    0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2]);
  var W = new Uint32Array(64);

  // SHA-256 of the concatenation of byte arrays.
  function sha256(parts) {
    var len = 0, i, j;
    for (i = 0; i < parts.length; i++) len += parts[i].length;
    var padded = new Uint8Array(((len + 9 + 63) >> 6) << 6);
    var at = 0;
    for (i = 0; i < parts.length; i++) { padded.set(parts[i], at); at += parts[i].length; }
    padded[len] = 0x80;
    var bits = len * 8, end = padded.length;
    for (i = 1; i <= 8; i++) { padded[end - i] = bits & 0xff; bits = Math.floor(bits / 256); }
    var h0 = 0x6a09e667, h1 = 0xbb67ae85, h2 = 0x3c6ef372, h3 = 0xa54ff53a,
        h4 = 0x510e527f, h5 = 0x9b05688c, h6 = 0x1f83d9ab, h7 = 0x5be0cd19;
    for (var off = 0; off < end; off += 64) {
      for (j = 0; j < 16; j++) {
        var p = off + j * 4;
        W[j] = (padded[p] << 24) | (padded[p + 1] << 16) | (padded[p + 2] << 8) | padded[p + 3];
      }
      for (j = 16; j < 64; j++) {
        var a15 = W[j - 15], a2 = W[j - 2];
        var s0 = ((a15 >>> 7) | (a15 << 25)) ^ ((a15 >>> 18) | (a15 << 14)) ^ (a15 >>> 3);
        var s1 = ((a2 >>> 17) | (a2 << 15)) ^ ((a2 >>> 19) | (a2 << 13)) ^ (a2 >>> 10);
        W[j] = (W[j - 16] + s0 + W[j - 7] + s1) | 0;
      }
      var a = h0, b = h1, c = h2, d = h3, e = h4, f = h5, g = h6, h = h7;
      for (j = 0; j < 64; j++) {
        var S1 = ((e >>> 6) | (e << 26)) ^ ((e >>> 11) | (e << 21)) ^ ((e >>> 25) | (e << 7));
        var t1 = (h + S1 + ((e & f) ^ (~e & g)) + K[j] + W[j]) | 0;
        var S0 = ((a >>> 2) | (a << 30)) ^ ((a >>> 13) | (a << 19)) ^ ((a >>> 22) | (a << 10));
        var t2 = (S0 + ((a & b) ^ (a & c) ^ (b & c))) | 0;
        h = g; g = f; f = e; e = (d + t1) | 0; d = c; c = b; b = a; a = (t1 + t2) | 0;
      }
      h0 = (h0 + a) | 0; h1 = (h1 + b) | 0; h2 = (h2 + c) | 0; h3 = (h3 + d) | 0;
      h4 = (h4 + e) | 0; h5 = (h5 + f) | 0; h6 = (h6 + g) | 0; h7 = (h7 + h) | 0;
    }
    var out = new Uint8Array(32), hs = [h0, h1, h2, h3, h4, h5, h6, h7];
    for (i = 0; i < 8; i++) {
      out[i * 4] = hs[i] >>> 24; out[i * 4 + 1] = (hs[i] >>> 16) & 0xff;
      out[i * 4 + 2] = (hs[i] >>> 8) & 0xff; out[i * 4 + 3] = hs[i] & 0xff;
    }
    return out;
  }

  function le64(n) {
    var b = new Uint8Array(8);
    for (var i = 0; i < 8; i++) { b[i] = n % 256; n = Math.floor(n / 256); }
    return b;
  }

  function ascii(s) {
    var b = new Uint8Array(s.length);
    for (var i = 0; i < s.length; i++) b[i] = s.charCodeAt(i) & 0xff;
    return b;
  }

  // The 256-bit little-endian number `h` modulo `m`.
  function modLE(h, m) {
    var r = 0;
    for (var i = h.length - 1; i >= 0; i--) r = (r * 256 + h[i]) % m;
    return r;
  }

  function balloon(password, salt, blocks) {
    var buf = new Array(blocks), cnt = 0, m, i;
    buf[0] = sha256([le64(cnt++), password, salt]);
    for (m = 1; m < blocks; m++) buf[m] = sha256([le64(cnt++), buf[m - 1]]);
    var t = 0; // one round
    for (m = 0; m < blocks; m++) {
      var prev = buf[(m + blocks - 1) % blocks];
      buf[m] = sha256([le64(cnt++), prev, buf[m]]);
      for (i = 0; i < 3; i++) {
        var idx = sha256([le64(t), le64(m), le64(i)]);
        var other = modLE(sha256([le64(cnt++), salt, idx]), blocks);
        buf[m] = sha256([le64(cnt++), buf[m], buf[other]]);
      }
    }
    return buf[blocks - 1];
  }

  function zeroBits(h) {
    var n = 0;
    for (var i = 0; i < h.length; i++) {
      if (h[i] === 0) { n += 8; continue; }
      var b = h[i];
      while ((b & 0x80) === 0) { n++; b <<= 1; }
      return n;
    }
    return n;
  }

  function workHash(c, counter) {
    var token = ascii(c.token);
    if (c.work === "sha256") return sha256([token, le64(counter)]);
    if (c.work === "balloon-sha256") return balloon(le64(counter), token, Math.max(1, c.memory_kib * 32));
    throw new Error("unknown work " + c.work);
  }

  // Tries counters from `from` for at most `budget` tries; the counter found, or -1.
  function search(c, from, budget) {
    for (var n = from; n < from + budget; n++) {
      if (zeroBits(workHash(c, n)) >= c.difficulty) return n;
    }
    return -1;
  }

  function solve(c) {
    for (var n = 0; ; n += 4096) {
      var found = search(c, n, 4096);
      if (found >= 0) return found;
    }
  }

  var api = { sha256: sha256, workHash: workHash, zeroBits: zeroBits, search: search, solve: solve };
  if (typeof module === "object" && module.exports) {
    module.exports = api;
    if (require.main === module && process.argv[2]) {
      process.stdout.write(String(solve(JSON.parse(process.argv[2]))) + "\n");
    }
    return;
  }
  root.GatehouseSolver = api;

  // On the challenge page: solve in slices (the page stays responsive), then ask for the pass
  // and go back to where the visitor was going.
  var data = document.getElementById("gh-challenge");
  if (!data) return;
  var c = JSON.parse(data.textContent);
  var status = document.getElementById("gh-status");
  var bar = document.getElementById("gh-progress");
  var expected = Math.pow(2, c.difficulty), tried = 0, slice = c.work === "sha256" ? 2000 : 1;
  function step(from) {
    var found = search(c, from, slice);
    tried += slice;
    if (bar) bar.value = Math.min(0.95, 1 - Math.exp(-tried / expected));
    if (found < 0) { setTimeout(function () { step(from + slice); }, 0); return; }
    status.textContent = status.getAttribute("data-verifying");
    fetch(c.verify, {
      method: "POST",
      headers: { "content-type": "application/json" },
      credentials: "same-origin",
      body: JSON.stringify({ token: c.token, sale: c.sale, counter: found })
    }).then(function (r) {
      if (r.ok) { if (bar) bar.value = 1; location.reload(); }
      else { status.textContent = status.getAttribute("data-failed"); }
    });
  }
  setTimeout(function () { step(0); }, 0);

  // The SMS path, for people whose device cannot do the work.
  var phoneForm = document.getElementById("gh-sms-phone");
  var codeForm = document.getElementById("gh-sms-code");
  var smsError = document.getElementById("gh-sms-error");
  function post(url, body) {
    return fetch(url, {
      method: "POST", credentials: "same-origin",
      headers: { "content-type": "application/json" }, body: JSON.stringify(body)
    }).then(function (r) {
      return r.json().then(function (j) { return { ok: r.ok, body: j }; });
    });
  }
  if (phoneForm && codeForm) {
    phoneForm.addEventListener("submit", function (e) {
      e.preventDefault();
      smsError.textContent = "";
      post("/.gatehouse/sms/code", { phone: phoneForm.phone.value }).then(function (r) {
        if (r.ok) { codeForm.hidden = false; codeForm.code.focus(); }
        else smsError.textContent = r.body.message;
      });
    });
    codeForm.addEventListener("submit", function (e) {
      e.preventDefault();
      smsError.textContent = "";
      post("/.gatehouse/sms/verify", {
        phone: phoneForm.phone.value, code: codeForm.code.value, token: c.token, sale: c.sale
      }).then(function (r) {
        if (r.ok) location.reload(); else smsError.textContent = r.body.message;
      });
    });
  }
})(this);
