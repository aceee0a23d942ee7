// bosun's passkeys in the browser (WebAuthn). Two forms use it:
// - form.passkey-register (/passkeys): the daemon starts a registration,
//   the authenticator makes a credential (user verification required), the
//   daemon checks it and writes it to the key registry's files (it counts
//   once operators adopt it);
// - form.passkey-approve (an op's page): the daemon gives the approval's
//   exact claims and options whose challenge is their SHA-256 digest; the
//   authenticator signs; the daemon checks the assertion like any approval.
// Listeners sit on the document: live.js swaps <main> on each change.
(() => {
  const b64u = {
    dec(s) {
      const b = atob(s.replace(/-/g, '+').replace(/_/g, '/') + '==='.slice((s.length + 3) % 4));
      return Uint8Array.from(b, (c) => c.charCodeAt(0)).buffer;
    },
    enc(buf) {
      let s = '';
      for (const c of new Uint8Array(buf)) s += String.fromCharCode(c);
      return btoa(s).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
    },
  };

  async function post(url, body) {
    const r = await fetch(url, {
      method: 'POST',
      credentials: 'same-origin',
      headers: { 'Content-Type': 'application/json', Accept: 'application/json' },
      body: JSON.stringify(body),
    });
    const j = await r.json().catch(() => ({}));
    if (!r.ok) {
      const e = (j && j.error) || {};
      throw new Error((e.check ? e.check + ': ' : '') + (e.message || r.status));
    }
    return j;
  }

  // The last thing said, kept across live.js's swaps of <main> (which
  // replace the form), so a refusal or a success stays on screen.
  let said = null;
  function show(s) {
    const form = document.querySelector(s.sel);
    const out = form && form.querySelector('.passkey-status');
    if (!out) return;
    out.textContent = s.text;
    out.dataset.state = s.state;
    for (const [k, v] of Object.entries(s.data)) form.dataset[k] = v;
  }
  function say(form, text, ok, data = {}) {
    const sel = form.matches('form.passkey-register') ? 'form.passkey-register' : 'form.passkey-approve';
    said = { sel, text, state: ok === undefined ? 'working' : ok ? 'ok' : 'refused', data };
    show(said);
  }
  document.addEventListener('bosun:swapped', () => { if (said) show(said); });

  async function register(form) {
    const label = form.querySelector('input[name=label]').value;
    const start = await post('/passkeys/register/start', { label });
    const pk = start.options.publicKey;
    pk.challenge = b64u.dec(pk.challenge);
    pk.user.id = b64u.dec(pk.user.id);
    for (const c of pk.excludeCredentials || []) c.id = b64u.dec(c.id);
    say(form, 'touch your authenticator…');
    const cred = await navigator.credentials.create({ publicKey: pk });
    const r = cred.response;
    const done = await post('/passkeys/register/finish', {
      ticket: start.ticket,
      credential: {
        id: cred.id,
        rawId: b64u.enc(cred.rawId),
        type: cred.type,
        response: {
          attestationObject: b64u.enc(r.attestationObject),
          clientDataJSON: b64u.enc(r.clientDataJSON),
          transports: r.getTransports ? r.getTransports() : undefined,
        },
      },
    });
    say(form, done.message, true, { fingerprint: done.fingerprint });
  }

  async function approve(form) {
    const op = form.dataset.op;
    const start = await post('/ops/' + encodeURIComponent(op) + '/passkey/start', {});
    const pk = start.options.publicKey;
    pk.challenge = b64u.dec(pk.challenge);
    for (const c of pk.allowCredentials || []) c.id = b64u.dec(c.id);
    say(form, 'touch your authenticator to approve ' + start.challenge + '…');
    const cred = await navigator.credentials.get({ publicKey: pk });
    const r = cred.response;
    const done = await post('/ops/' + encodeURIComponent(op) + '/passkey/finish', {
      claims: start.claims,
      credential: {
        id: cred.id,
        rawId: b64u.enc(cred.rawId),
        type: cred.type,
        response: {
          authenticatorData: b64u.enc(r.authenticatorData),
          clientDataJSON: b64u.enc(r.clientDataJSON),
          signature: b64u.enc(r.signature),
          userHandle: r.userHandle ? b64u.enc(r.userHandle) : null,
        },
      },
    });
    say(form, done.message, true);
  }

  document.addEventListener('submit', (ev) => {
    const form = ev.target;
    const run = form.matches('form.passkey-register') ? register
      : form.matches('form.passkey-approve') ? approve : null;
    if (!run) return;
    ev.preventDefault();
    if (!window.PublicKeyCredential) {
      say(form, 'this browser has no passkeys (WebAuthn); use the command instead', false);
      return;
    }
    say(form, 'asking the daemon…');
    run(form).catch((e) => say(form, 'refused: ' + e.message, false));
  });
})();
