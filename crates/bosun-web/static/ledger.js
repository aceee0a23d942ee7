// bosun's ledger page: checks every inclusion proof on the page in the
// browser, trusting nothing the daemon says but the ledger key shown (to
// compare with keys/ledger.vkey). For each proof: the leaf hash
// SHA-256(0x00 || entry), folded with the path (RFC 9162 §2.1.3.2,
// SHA-256(0x01 || left || right)) up to a root; the checkpoint (a C2SP
// signed note: origin, size, base64 root) must carry that size and root,
// and its signature line for the ledger key must verify (Ed25519, WebCrypto).
(() => {
  const te = new TextEncoder();
  const b64 = (s) => Uint8Array.from(atob(s), (c) => c.charCodeAt(0));
  const eq = (a, b) => a.length === b.length && a.every((x, i) => x === b[i]);
  async function sha(...parts) {
    const n = parts.reduce((k, p) => k + p.length, 0);
    const all = new Uint8Array(n);
    let o = 0;
    for (const p of parts) { all.set(p, o); o += p.length; }
    return new Uint8Array(await crypto.subtle.digest('SHA-256', all));
  }
  async function rootOf(index, size, leaf, path) {
    if (index >= size) throw new Error(`index ${index} is outside a tree of size ${size}`);
    let fn = BigInt(index), sn = BigInt(size) - 1n, r = leaf;
    for (const p of path) {
      if (sn === 0n) throw new Error('the path is too long');
      if ((fn & 1n) === 1n || fn === sn) {
        r = await sha(Uint8Array.of(1), p, r);
        while ((fn & 1n) === 0n && fn !== 0n) { fn >>= 1n; sn >>= 1n; }
      } else {
        r = await sha(Uint8Array.of(1), r, p);
      }
      fn >>= 1n; sn >>= 1n;
    }
    if (sn !== 0n) throw new Error('the path is too short');
    return r;
  }
  async function keyOf(vkey) {
    const i = vkey.indexOf('+');
    const j = vkey.indexOf('+', i + 1);
    if (i < 0 || j < 0) throw new Error('the ledger key is not name+id+key');
    const [name, id, key] = [vkey.slice(0, i), vkey.slice(i + 1, j), vkey.slice(j + 1)];
    const raw = b64(key);
    if (raw.length !== 33 || raw[0] !== 1) throw new Error('the ledger key is not Ed25519');
    const k = await crypto.subtle.importKey('raw', raw.slice(1), { name: 'Ed25519' }, false, ['verify']);
    return { name, id: parseInt(id, 16), key: k };
  }
  async function check(p, key) {
    const leaf = await sha(Uint8Array.of(0), te.encode(p.entry));
    if (!eq(leaf, b64(p.leaf_hash))) throw new Error('the leaf hash is not the entry\'s');
    const root = await rootOf(p.index, p.tree_size, leaf, p.proof.map(b64));
    const cut = p.checkpoint.indexOf('\n\n');
    if (cut < 0) throw new Error('the checkpoint is not a signed note');
    const text = p.checkpoint.slice(0, cut + 1);
    const [, size, rootB64] = text.split('\n');
    if (size !== String(p.tree_size)) throw new Error(`the checkpoint is of size ${size}, not ${p.tree_size}`);
    if (!eq(root, b64(rootB64))) throw new Error('the path does not lead to the checkpoint\'s root');
    const sigs = p.checkpoint.slice(cut + 2).split('\n').filter((l) => l.startsWith('\u2014 '));
    for (const line of sigs) {
      const [, name, sig] = line.split(' ');
      const raw = b64(sig);
      const id = new DataView(raw.buffer).getUint32(0);
      if (name !== key.name || id !== key.id) continue;
      if (await crypto.subtle.verify('Ed25519', key.key, raw.slice(4), te.encode(text))) {
        return `included: the path leads to the root of checkpoint ${size}, signed by ${name}`;
      }
      throw new Error(`the checkpoint's signature by ${name} does not verify`);
    }
    throw new Error('the checkpoint carries no signature by the ledger key');
  }
  async function run() {
    const v = document.querySelector('#vkey');
    const proofs = document.querySelectorAll('.proof[data-proof]');
    if (!proofs.length) return;
    let key = null;
    try {
      if (!v) throw new Error('no ledger key is published');
      key = await keyOf(v.dataset.vkey);
    } catch (e) {
      for (const el of proofs) { const s = el.querySelector('.verdict'); s.textContent = 'not checked: ' + e.message; s.dataset.ok = 'false'; }
      return;
    }
    for (const el of proofs) {
      const s = el.querySelector('.verdict');
      try {
        s.textContent = await check(JSON.parse(el.dataset.proof), key);
        s.dataset.ok = 'true';
        s.className = 'verdict badge s-succeeded';
      } catch (e) {
        s.textContent = 'FAILED: ' + e.message;
        s.dataset.ok = 'false';
        s.className = 'verdict badge s-failed';
      }
    }
  }
  document.addEventListener('DOMContentLoaded', run);
  document.addEventListener('bosun:swapped', run);
})();
