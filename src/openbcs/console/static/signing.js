// Signing a signature request in the browser (docs/governance.md, "The browser path"). The admin's key file is read
// and used here only, never sent: what is posted is one Fabric ConfigSignature, as `peer channel signconfigtx` makes
// it — signature_header = SignatureHeader{creator = SerializedIdentity{mspid, id_bytes = certificate PEM}, nonce =
// 24 random bytes} and signature = DER ECDSA P-256/SHA-256 over signature_header || config_update, low-S — in the
// two fields of the API's JSON form (base64), through the console's own form (its CSRF token).
(function () {
  "use strict";
  var form = document.getElementById("sign-form");
  if (!form) return;
  var ORDER = BigInt("0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551");
  var HALF = ORDER >> BigInt(1);
  var errorBox = document.getElementById("sign-error");

  function fail(text) {
    errorBox.textContent = text;
    errorBox.hidden = false;
    errorBox.focus();
  }
  function fromB64(text) {
    var bin = atob(text);
    var out = new Uint8Array(bin.length);
    for (var i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
    return out;
  }
  function toB64(bytes) {
    var bin = "";
    for (var i = 0; i < bytes.length; i++) bin += String.fromCharCode(bytes[i]);
    return btoa(bin);
  }
  function concat(parts) {
    var length = parts.reduce(function (n, p) { return n + p.length; }, 0);
    var out = new Uint8Array(length);
    var at = 0;
    parts.forEach(function (p) { out.set(p, at); at += p.length; });
    return out;
  }
  function varint(n) {
    var out = [];
    while (n > 127) { out.push((n & 127) | 128); n = Math.floor(n / 128); }
    out.push(n);
    return Uint8Array.from(out);
  }
  // A length-delimited protobuf field (wire type 2): all the fields these two messages have.
  function field(number, bytes) { return concat([varint((number << 3) | 2), varint(bytes.length), bytes]); }
  // The first PEM block labelled `label`: its DER bytes and its base64 text.
  function pemBlock(text, label) {
    var found = new RegExp("-----BEGIN " + label + "-----([A-Za-z0-9+/=\\s]+)-----END " + label + "-----").exec(text);
    if (!found) return null;
    var body = found[1].replace(/\s+/g, "");
    return { der: fromB64(body), b64: body };
  }
  // The certificate as Go's pem.EncodeToMemory writes it (64-character lines), as Fabric's MSP serializes it.
  function canonicalPem(b64) {
    var lines = b64.match(/.{1,64}/g) || [];
    return "-----BEGIN CERTIFICATE-----\n" + lines.join("\n") + "\n-----END CERTIFICATE-----\n";
  }
  function toBig(bytes) {
    var hex = Array.prototype.map.call(bytes, function (b) { return ("0" + b.toString(16)).slice(-2); }).join("");
    return BigInt("0x" + (hex || "0"));
  }
  function fromBig(n, size) {
    var hex = n.toString(16);
    while (hex.length < size * 2) hex = "0" + hex;
    var out = new Uint8Array(size);
    for (var i = 0; i < size; i++) out[i] = parseInt(hex.substr(i * 2, 2), 16);
    return out;
  }
  function derInteger(bytes) {
    var i = 0;
    while (i < bytes.length - 1 && bytes[i] === 0) i++;
    var body = bytes.slice(i);
    if (body[0] & 0x80) body = concat([Uint8Array.of(0), body]);
    return concat([Uint8Array.of(0x02, body.length), body]);
  }
  // WebCrypto answers r || s (32 bytes each); Fabric wants DER with s in the lower half of the order.
  function lowSDer(raw) {
    var s = toBig(raw.slice(32, 64));
    if (s > HALF) s = ORDER - s;
    var seq = concat([derInteger(raw.slice(0, 32)), derInteger(fromBig(s, 32))]);
    return concat([Uint8Array.of(0x30, seq.length), seq]);
  }
  function readFile(id) {
    var input = document.getElementById(id);
    return input.files && input.files[0] ? input.files[0].text() : Promise.resolve("");
  }

  form.addEventListener("submit", function (event) {
    event.preventDefault();
    errorBox.hidden = true;
    var msp = document.getElementById("sign-msp").value;
    var update = fromB64(form.dataset.update);
    Promise.all([readFile("sign-cert"), readFile("sign-key")])
      .then(function (files) {
        var cert = pemBlock(files[0], "CERTIFICATE");
        if (!cert) throw new Error("Choose your admin certificate: a PEM file with a CERTIFICATE block.");
        var key = pemBlock(files[1], "PRIVATE KEY");
        if (!key) {
          throw new Error("Choose your private key: a PKCS#8 PEM file (BEGIN PRIVATE KEY), as Fabric's keystore holds it.");
        }
        var creator = concat([
          field(1, new TextEncoder().encode(msp)),
          field(2, new TextEncoder().encode(canonicalPem(cert.b64))),
        ]);
        var header = concat([field(1, creator), field(2, crypto.getRandomValues(new Uint8Array(24)))]);
        return crypto.subtle
          .importKey("pkcs8", key.der, { name: "ECDSA", namedCurve: "P-256" }, false, ["sign"])
          .catch(function () { throw new Error("The key file is not a P-256 private key (PKCS#8)."); })
          .then(function (privateKey) {
            return crypto.subtle.sign({ name: "ECDSA", hash: "SHA-256" }, privateKey, concat([header, update]));
          })
          .then(function (raw) {
            document.getElementById("sign-header").value = toB64(header);
            document.getElementById("sign-signature").value = toB64(lowSDer(new Uint8Array(raw)));
            form.submit();
          });
      })
      .catch(function (error) { fail(error.message || String(error)); });
  });
})();
