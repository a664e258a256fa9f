// verify.js: checks a proof page (`GET /entries/<index>`) in the browser.
// See spec/http-api.md, "Checking the page in the browser".
//
// Served by the log itself ('script-src self', no inline script). Plain
// JavaScript, no build step, no library: WebCrypto only (SHA-256, Ed25519).
// It trusts none of the page's claims: it reads the entry bytes, the
// inclusion proof and the signed checkpoint from the page, and
//   1. hashes the entry (RFC 6962 leaf hash, SHA-256(0x00 || entry)) and
//      compares it, and the entry text shown, with what the page shows;
//   2. computes the root from the inclusion proof (RFC 9162 2.1.3.2) at the
//      index and the tree size of the checkpoint's body, and compares it
//      with the checkpoint's root hash;
//   3. verifies the checkpoint's Ed25519 signature (C2SP signed-note) by a
//      log key: the one pinned in the URL (?key=) or the form, else the one
//      the page prints (which comes from the server: not independent);
//   4. verifies a cosignature/v1 (C2SP tlog-cosignature) by every pinned
//      witness key (&witness=, repeatable), or by &quorum=k of them.
// Any parse error fails the check, with its reason (fail closed). The
// result is written into #verify-status (data-state "verified" or
// "failed") and one line per step into #verify-steps.
(function () {
  "use strict";

  var SIG_PREFIX = "\u2014 "; // em dash, space
  var ALG_ED25519 = 0x01;
  var ALG_COSIGNATURE_V1 = 0x04;
  var MAX_SIGNATURES = 100;
  var U64_LIMIT = 1n << 64n;
  // A witness's clock may run a little ahead of the reader's.
  var CLOCK_SKEW_SECONDS = 60n;

  /** A check that failed, with a reason for people. */
  function Failure(reason) {
    this.reason = reason;
  }

  function fail(reason) {
    return new Failure(reason);
  }

  // ---- bytes ----

  var utf8 = new TextEncoder();

  function concat() {
    var len = 0;
    var i;
    for (i = 0; i < arguments.length; i++) { len += arguments[i].length; }
    var out = new Uint8Array(len);
    var off = 0;
    for (i = 0; i < arguments.length; i++) {
      out.set(arguments[i], off);
      off += arguments[i].length;
    }
    return out;
  }

  function equalBytes(a, b) {
    if (a.length !== b.length) { return false; }
    var diff = 0;
    for (var i = 0; i < a.length; i++) { diff |= a[i] ^ b[i]; }
    return diff === 0;
  }

  function hex(bytes) {
    var s = "";
    for (var i = 0; i < bytes.length; i++) { s += (bytes[i] < 16 ? "0" : "") + bytes[i].toString(16); }
    return s;
  }

  function base64(bytes) {
    var s = "";
    for (var i = 0; i < bytes.length; i++) { s += String.fromCharCode(bytes[i]); }
    return btoa(s);
  }

  /** Strict standard, padded, canonical base64. */
  function unbase64(text, what) {
    if (text.length % 4 !== 0 || !/^[A-Za-z0-9+/]*={0,2}$/.test(text)) {
      throw fail(what + " is not standard base64");
    }
    var bin;
    try { bin = atob(text); } catch (e) { throw fail(what + " is not standard base64"); }
    var out = new Uint8Array(bin.length);
    for (var i = 0; i < bin.length; i++) { out[i] = bin.charCodeAt(i); }
    if (base64(out) !== text) { throw fail(what + " is not canonical base64"); }
    return out;
  }

  function hashFromBase64(text, what) {
    var h = unbase64(text, what);
    if (h.length !== 32) { throw fail(what + " is " + h.length + " bytes, not 32"); }
    return h;
  }

  /** A canonical decimal below 2^64, as a BigInt. */
  function parseU64(text, what) {
    if (!/^(0|[1-9][0-9]*)$/.test(text)) { throw fail(what + " is not a canonical decimal number"); }
    var n = BigInt(text);
    if (n >= U64_LIMIT) { throw fail(what + " is larger than 2^64 - 1"); }
    return n;
  }

  function u64BigEndian(bytes) {
    var n = 0n;
    for (var i = 0; i < 8; i++) { n = (n << 8n) | BigInt(bytes[i]); }
    return n;
  }

  function sha256(bytes) {
    return crypto.subtle.digest("SHA-256", bytes).then(function (d) { return new Uint8Array(d); });
  }

  function leafHash(entry) {
    return sha256(concat(new Uint8Array([0]), entry));
  }

  function nodeHash(left, right) {
    return sha256(concat(new Uint8Array([1]), left, right));
  }

  // ---- RFC 9162 2.1.3.2: the root from an inclusion proof ----

  async function rootFromInclusionProof(index, size, leaf, proof) {
    if (index >= size) {
      throw fail("entry " + index + " is not in the checkpoint's tree of size " + size +
        " (not yet covered by a signed checkpoint: reload in a second)");
    }
    var fn = index;
    var sn = size - 1n;
    var r = leaf;
    for (var i = 0; i < proof.length; i++) {
      if (sn === 0n) { throw fail("the inclusion proof is too long (" + proof.length + " hashes)"); }
      if ((fn & 1n) === 1n || fn === sn) {
        r = await nodeHash(proof[i], r);
        if ((fn & 1n) === 0n) {
          while ((fn & 1n) === 0n && fn !== 0n) { fn >>= 1n; sn >>= 1n; }
        }
      } else {
        r = await nodeHash(r, proof[i]);
      }
      fn >>= 1n;
      sn >>= 1n;
    }
    if (sn !== 0n) { throw fail("the inclusion proof is too short (" + proof.length + " hashes)"); }
    return r;
  }

  // ---- C2SP signed-note ----

  function isKeyName(name) {
    return name.length > 0 && !/[\s+]/.test(name);
  }

  /**
   * Parses a verifier key `<name>+<key ID hex>+<base64(type || key)>` of
   * signature type `type` and imports it for WebCrypto.
   */
  async function parseVerifierKey(text, type, what) {
    var i = text.indexOf("+");
    var j = i < 0 ? -1 : text.indexOf("+", i + 1);
    if (j < 0) { throw fail(what + " is not a verifier key <name>+<key ID>+<base64 key>"); }
    var name = text.slice(0, i);
    var idHex = text.slice(i + 1, j);
    if (!isKeyName(name)) { throw fail(what + " has an invalid key name"); }
    if (!/^[0-9a-f]{8}$/.test(idHex)) { throw fail(what + ": the key ID is not 8 lowercase hex digits"); }
    var data = unbase64(text.slice(j + 1), what + ": the key data");
    if (data.length === 0) { throw fail(what + ": the key data is empty"); }
    if (data[0] !== type) {
      throw fail(what + " has signature type 0x" + hex(data.subarray(0, 1)) + ", not 0x" +
        hex(new Uint8Array([type])) + (type === ALG_COSIGNATURE_V1 ? " (cosignature/v1)" : " (Ed25519)"));
    }
    if (data.length !== 33) { throw fail(what + ": the Ed25519 key is not 32 bytes"); }
    var pk = data.subarray(1);
    var id = (await sha256(concat(utf8.encode(name), new Uint8Array([0x0a, type]), pk))).subarray(0, 4);
    if (hex(id) !== idHex) { throw fail(what + ": the key ID does not match the name and key"); }
    var key;
    try {
      key = await crypto.subtle.importKey("raw", pk, { name: "Ed25519" }, false, ["verify"]);
    } catch (e) {
      throw fail(what + " cannot be used: this browser's WebCrypto refused the Ed25519 key (" + e.name + ")");
    }
    return { text: text, name: name, id: id, idHex: idHex, key: key };
  }

  function ed25519Verify(key, signature, message) {
    if (signature.length !== 64) { return Promise.resolve(false); }
    return crypto.subtle.verify({ name: "Ed25519" }, key.key, signature, message);
  }

  /** Parses a signed note as tlog::Note::from_bytes does. */
  function parseNote(msg) {
    for (var c = 0; c < msg.length; c++) {
      var code = msg.charCodeAt(c);
      if (code < 0x20 && code !== 0x0a) { throw fail("the checkpoint contains a control character"); }
    }
    var split = msg.lastIndexOf("\n\n");
    if (split < 0) { throw fail("the checkpoint has no blank line before its signatures"); }
    var text = msg.slice(0, split + 1);
    var block = msg.slice(split + 2);
    if (block === "") { throw fail("the checkpoint has no signatures"); }
    if (block[block.length - 1] !== "\n") { throw fail("the checkpoint's signature block does not end in a newline"); }
    var lines = block.slice(0, -1).split("\n");
    if (lines.length > MAX_SIGNATURES) { throw fail("the checkpoint has too many signatures"); }
    var signatures = lines.map(function (line) {
      if (line.indexOf(SIG_PREFIX) !== 0) { throw fail("a signature line of the checkpoint does not start with an em dash"); }
      var rest = line.slice(SIG_PREFIX.length);
      var sp = rest.indexOf(" ");
      if (sp < 0) { throw fail("a signature line of the checkpoint has no space after the key name"); }
      var name = rest.slice(0, sp);
      if (!isKeyName(name)) { throw fail("a signature line of the checkpoint has an invalid key name"); }
      var data = unbase64(rest.slice(sp + 1), "the signature of " + name);
      if (data.length < 5) { throw fail("the signature of " + name + " is too short"); }
      return { name: name, id: data.subarray(0, 4), data: data.subarray(4) };
    });
    return { text: text, textBytes: utf8.encode(text), signatures: signatures };
  }

  /** Parses a checkpoint body as tlog::Checkpoint::from_body does. */
  async function parseCheckpoint(text) {
    var lines = text.slice(0, -1).split("\n");
    var origin = lines[0];
    if (origin === "") { throw fail("the checkpoint's origin line is empty"); }
    if (lines.length < 3) { throw fail("the checkpoint has no tree size or root hash line"); }
    var size = parseU64(lines[1], "the checkpoint's tree size");
    var root = hashFromBase64(lines[2], "the checkpoint's root hash");
    if (size === 0n && !equalBytes(root, await sha256(new Uint8Array(0)))) {
      throw fail("the checkpoint's root hash of the empty tree is not SHA-256 of nothing");
    }
    for (var i = 3; i < lines.length; i++) {
      if (lines[i] === "") { throw fail("the checkpoint has an empty extension line"); }
    }
    return { origin: origin, size: size, root: root };
  }

  function signaturesBy(note, key) {
    return note.signatures.filter(function (s) { return s.name === key.name && equalBytes(s.id, key.id); });
  }

  function utcTime(seconds) {
    return new Date(Number(seconds) * 1000).toISOString().replace("T", " ").replace(/\.000Z$/, " UTC");
  }

  // ---- the page ----

  function element(id) {
    return document.getElementById(id);
  }

  /** The text of a page element that must be there. */
  function pageText(id, what) {
    var el = element(id);
    if (!el) { throw fail("the page does not show " + what + " (#" + id + ")"); }
    return el.textContent;
  }

  /** The keys pinned in the URL: key, witness (repeatable), quorum. */
  function pinnedFromUrl() {
    var q = new URLSearchParams(window.location.search);
    // A verifier key has no whitespace: a space is a '+' left unencoded.
    var clean = function (v) { return v.trim().replace(/ /g, "+"); };
    var keys = q.getAll("key").map(clean).filter(function (v) { return v !== ""; });
    var witnesses = [];
    q.getAll("witness").forEach(function (v) {
      v.split(/\r?\n/).map(clean).forEach(function (w) {
        if (w !== "" && witnesses.indexOf(w) < 0) { witnesses.push(w); }
      });
    });
    var quorum = (q.get("quorum") || "").trim();
    return { keys: keys, witnesses: witnesses, quorum: quorum };
  }

  /** Sets a step's result and text (its first child, a span; details follow it). */
  function setStep(id, result, text) {
    var li = element(id);
    if (!li) { return; }
    li.setAttribute("data-result", result);
    var span = li.querySelector("span.step-text");
    if (!span) {
      // Keep the details list (a ul), drop the rest, put the span first.
      var details = li.querySelector("ul");
      li.textContent = "";
      span = document.createElement("span");
      span.className = "step-text";
      li.appendChild(span);
      if (details) { li.appendChild(details); }
    }
    span.textContent = text;
  }

  function addDetail(id, text, result) {
    var li = element(id);
    if (!li) { return; }
    var ul = li.querySelector("ul");
    if (!ul) {
      ul = document.createElement("ul");
      li.appendChild(ul);
    }
    var item = document.createElement("li");
    item.setAttribute("data-result", result);
    item.textContent = text;
    ul.appendChild(item);
  }

  function setStatus(state, text) {
    var el = element("verify-status");
    if (!el) { return; }
    el.setAttribute("data-state", state);
    el.textContent = text;
  }

  /** Runs one step; a Failure (or any error) becomes its failure. */
  async function step(id, label, run) {
    try {
      var detail = await run();
      setStep(id, "ok", label + ": ok, " + detail);
      return null;
    } catch (e) {
      var reason = e instanceof Failure ? e.reason : "the check itself failed (" + e + ")";
      setStep(id, "failed", label + ": failed, " + reason);
      return reason;
    }
  }

  async function verifyPage() {
    var pins = pinnedFromUrl();
    var form = { key: element("pin-key"), witness: element("pin-witness"), quorum: element("pin-quorum") };
    if (form.key && pins.keys.length > 0) { form.key.value = pins.keys[0]; }
    if (form.witness) { form.witness.value = pins.witnesses.join("\n"); }
    if (form.quorum) { form.quorum.value = pins.quorum; }

    setStatus("checking", "checking\u2026");
    if (!window.crypto || !window.crypto.subtle) {
      var why = "this browser offers no WebCrypto on this page (it needs https, or localhost)";
      ["step-entry", "step-inclusion", "step-signature", "step-cosignatures"].forEach(function (id) {
        setStep(id, "failed", "failed, " + why);
      });
      setStatus("failed", "failed: " + why);
      return;
    }

    // Shared between the steps; each step that needs an earlier value
    // fails with the earlier step's reason if it is missing.
    var entry = { index: null, leaf: null };
    var cp = { note: null, body: null, error: null };
    try {
      cp.note = parseNote(pageText("checkpoint-note", "the signed checkpoint"));
      cp.body = await parseCheckpoint(cp.note.text);
    } catch (e) {
      cp.error = e instanceof Failure ? e : fail("the checkpoint could not be read (" + e + ")");
    }
    var needCheckpoint = function () {
      if (cp.error) { throw cp.error; }
    };

    var reasons = [];
    reasons.push(await step("step-entry", "Entry and leaf hash", async function () {
      var index = parseU64(pageText("entry-index", "the entry's index").trim(), "the entry's index");
      var m = /\/entries\/([0-9]+)\/?$/.exec(window.location.pathname);
      if (m && BigInt(m[1]) !== index) {
        throw fail("the page shows entry " + index + ", but its address asks for entry " + m[1]);
      }
      var bytes = unbase64(pageText("entry-b64", "the entry's bytes").trim(), "the entry's base64");
      var shown = element("entry-text");
      if (shown) {
        var decoded;
        try { decoded = new TextDecoder("utf-8", { fatal: true }).decode(bytes); } catch (e) { decoded = null; }
        if (decoded !== shown.textContent) { throw fail("the entry text shown is not the entry that was hashed"); }
      }
      var leaf = await leafHash(bytes);
      var shownLeaf = pageText("leaf-hash", "the leaf hash").trim();
      if (shownLeaf !== base64(leaf)) {
        throw fail("the leaf hash shown (" + shownLeaf + ") is not the entry's, SHA-256(0x00 || entry) = " + base64(leaf));
      }
      entry.index = index;
      entry.leaf = leaf;
      return "entry " + index + " (" + bytes.length + " bytes) hashes to " + base64(leaf) + ", as shown";
    }));

    reasons.push(await step("step-inclusion", "Inclusion in the checkpoint", async function () {
      needCheckpoint();
      if (entry.leaf === null) { throw fail("the entry was not checked"); }
      var shownSize = element("checkpoint-size");
      var shownRoot = element("checkpoint-root");
      if ((shownSize && shownSize.textContent.trim() !== String(cp.body.size)) ||
          (shownRoot && shownRoot.textContent.trim() !== base64(cp.body.root))) {
        throw fail("the tree size or root hash shown is not the signed checkpoint's");
      }
      var list = element("inclusion-proof");
      if (!list) {
        throw fail("the page has no inclusion proof (the entry is not yet covered by a signed checkpoint: reload in a second)");
      }
      var items = list.querySelectorAll("li");
      var proof = [];
      for (var i = 0; i < items.length; i++) {
        proof.push(hashFromBase64(items[i].textContent.trim(), "proof hash " + i));
      }
      var root = await rootFromInclusionProof(entry.index, cp.body.size, entry.leaf, proof);
      if (!equalBytes(root, cp.body.root)) {
        throw fail("the inclusion proof gives the root " + base64(root) + ", not the checkpoint's root hash " +
          base64(cp.body.root));
      }
      return "the " + proof.length + "-hash proof from entry " + entry.index + " gives the root hash of the checkpoint of tree size " +
        cp.body.size;
    }));

    var logKey = { key: null, pinned: false };
    reasons.push(await step("step-signature", "Log signature", async function () {
      if (pins.keys.length > 1) { throw fail("the address pins " + pins.keys.length + " log keys; give one"); }
      var text = pins.keys.length === 1 ? pins.keys[0] : pageText("log-key", "the log's key").trim();
      logKey.pinned = pins.keys.length === 1;
      var who = logKey.pinned ? "the pinned key" : "the key this page shows";
      var key = await parseVerifierKey(text, ALG_ED25519, who);
      logKey.key = key;
      needCheckpoint();
      var sigs = signaturesBy(cp.note, key);
      if (sigs.length === 0) {
        throw fail("the checkpoint carries no signature by " + who + " " + key.name + "+" + key.idHex);
      }
      for (var i = 0; i < sigs.length; i++) {
        if (!(await ed25519Verify(key, sigs[i].data, cp.note.textBytes))) {
          throw fail("the checkpoint's signature by " + who + " " + key.name + "+" + key.idHex + " does not verify");
        }
      }
      if (cp.body.origin !== key.name) {
        throw fail("the checkpoint's origin " + cp.body.origin + " is not the key's name " + key.name);
      }
      return "the checkpoint of " + cp.body.origin + " is signed by " + who + " " + key.name + "+" + key.idHex;
    }));

    var cosigned = { count: 0, of: pins.witnesses.length };
    reasons.push(await step("step-cosignatures", "Witness cosignatures", async function () {
      var n = pins.witnesses.length;
      var quorum = n;
      if (pins.quorum !== "") {
        if (!/^[0-9]+$/.test(pins.quorum)) { throw fail("the quorum " + pins.quorum + " is not a number"); }
        quorum = Number(pins.quorum);
        if (quorum < 1 || quorum > n) {
          throw fail("the quorum " + pins.quorum + " is not between 1 and the " + n + " pinned witness key(s)");
        }
      }
      if (n === 0) {
        return "none required (no witness key pinned; add &witness=<key> to require one)";
      }
      var keys = [];
      for (var i = 0; i < n; i++) {
        keys.push(await parseVerifierKey(pins.witnesses[i], ALG_COSIGNATURE_V1, "witness key " + (i + 1)));
      }
      needCheckpoint();
      var now = BigInt(Math.floor(Date.now() / 1000));
      var missing = [];
      for (i = 0; i < keys.length; i++) {
        var w = keys[i];
        var label = w.name + "+" + w.idHex;
        var sigs = signaturesBy(cp.note, w);
        if (sigs.length === 0) {
          missing.push(w.name);
          addDetail("step-cosignatures", label + ": no cosignature", "failed");
          continue;
        }
        var when = null;
        for (var k = 0; k < sigs.length; k++) {
          var data = sigs[k].data;
          if (data.length !== 8 + 64) {
            throw fail("the cosignature of " + label + " is " + data.length + " bytes, not a timestamp and an Ed25519 signature (72)");
          }
          var time = u64BigEndian(data.subarray(0, 8));
          var message = concat(utf8.encode("cosignature/v1\ntime " + time + "\n"), cp.note.textBytes);
          if (!(await ed25519Verify(w, data.subarray(8), message))) {
            throw fail("the cosignature of " + label + " does not verify");
          }
          if (time > now + CLOCK_SKEW_SECONDS) {
            throw fail("the cosignature of " + label + " is dated in the future (" + time + " seconds since 1970, now is " + now + ")");
          }
          if (when === null || time > when) { when = time; }
        }
        cosigned.count += 1;
        addDetail("step-cosignatures", label + ": cosigned at " + utcTime(when), "ok");
      }
      if (cosigned.count < quorum) {
        throw fail("missing cosignature from " + missing.join(", ") + " (" + cosigned.count + " of the " + quorum +
          " required)");
      }
      return cosigned.count + " of " + n + " pinned witness(es) cosigned (" + quorum + " required)";
    }));

    var source = element("verify-key-source");
    if (source && !logKey.key && pins.keys.length > 0) {
      source.textContent = "Log key: the key pinned in the address could not be used (see the log signature step).";
    } else if (source && logKey.key) {
      source.textContent = logKey.pinned
        ? "Log key: pinned in the address, " + logKey.key.text + ". The check is as independent as the place you got this key from."
        : "Log key: the one this page shows, which comes from this server: the check only shows that the server's " +
          "answers agree with each other. To make it independent, pin the log's key obtained elsewhere (its publication " +
          "repository, its operator) in the form below or as ?key= in the address.";
    }

    var failed = reasons.filter(function (r) { return r !== null; });
    if (failed.length > 0) {
      setStatus("failed", "failed: " + failed[0]);
      return;
    }
    var summary = "entry " + entry.index + " is in the checkpoint of tree size " + cp.body.size + " of " + cp.body.origin +
      ", signed by " + (logKey.pinned ? "the pinned key " : "the key this page shows ") + logKey.key.name + "+" + logKey.key.idHex;
    if (cosigned.of > 0) { summary += ", cosigned by " + cosigned.count + " of " + cosigned.of + " pinned witness(es)"; }
    if (logKey.pinned) {
      setStatus("verified", "verified: " + summary);
    } else {
      setStatus("verified", "verified with the log key from this server, not an independent check: " + summary +
        ". Pin a key obtained elsewhere to make it independent.");
    }
  }

  function start() {
    verifyPage().catch(function (e) {
      setStatus("failed", "failed: the check itself failed (" + e + ")");
    });
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", start);
  } else {
    start();
  }
})();
