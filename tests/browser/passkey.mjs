// Approving with a passkey in headless Chromium, with the DevTools'
// virtual authenticator (CTAP2, user verification): an operator signs in,
// registers a passkey (written to the key registry's files; the test
// adopts it from the CLI, as operators would), then approves an agent's
// pending op from its page. A forged
// signature is refused first, with the check named, and changes nothing.
// Prints one JSON object of what it saw; exits non-zero on a failed check.
// Usage: node passkey.mjs <base-url> <token> <op-jti> <screenshot-dir>
import { check, launch, open, seen, signIn, text } from './lib.mjs';
import { existsSync, writeFileSync } from 'node:fs';

const [base, token, jti, shots] = process.argv.slice(2);
async function waitForFile(path, ms) {
  const end = Date.now() + ms;
  while (!existsSync(path)) {
    if (Date.now() > end) return false;
    await new Promise((r) => setTimeout(r, 100));
  }
  return true;
}

const browser = await launch();
try {
  const errors = [];
  const page = await open(browser, errors);
  const cdp = await page.context().newCDPSession(page);
  await cdp.send('WebAuthn.enable', { enableUI: false });
  const { authenticatorId } = await cdp.send('WebAuthn.addVirtualAuthenticator', {
    options: {
      protocol: 'ctap2', ctap2Version: 'ctap2_1', transport: 'internal',
      hasResidentKey: true, hasUserVerification: true, isUserVerified: true,
      automaticPresenceSimulation: true,
    },
  });

  await signIn(page, base, token);

  // Register a passkey: written to the key registry's files, proposed.
  await Promise.all([page.waitForURL(/\/passkeys$/), page.click('header a[href="/passkeys"]')]);
  await page.fill('input[name=label]', 'phone');
  await page.click('form.passkey-register button');
  await page.waitForSelector('form.passkey-register .passkey-status[data-state=ok], form.passkey-register .passkey-status[data-state=refused]');
  seen.registered = await text(page, 'form.passkey-register .passkey-status');
  check(/passkey `phone` \([0-9a-f]{16}\) is written to keys\/alice\.passkeys\.json; it counts once adopted — bosun adopt --as/.test(seen.registered), 'the passkey is registered, to be adopted');
  const fingerprint = await page.getAttribute('form.passkey-register', 'data-fingerprint');
  const { credentials } = await cdp.send('WebAuthn.getCredentials', { authenticatorId });
  seen.credentials = credentials.length;
  check(credentials.length === 1, 'the authenticator holds one credential');
  await page.screenshot({ path: `${shots}/passkey-registered.png`, fullPage: true });
  // Operators adopt it from their terminals (the test does).
  writeFileSync(`${shots}/passkey-registered`, fingerprint);
  check(await waitForFile(`${shots}/passkey-adopted`, 60000), 'the test adopted the passkey');
  await page.goto(base + '/passkeys');
  seen.table = await text(page, '#passkeys');
  check(/phone\s*[0-9a-f]{16}\s*adopted/.test(seen.table), 'the passkey shows as adopted');

  // The agent's op: its page offers the passkey beside the command.
  await page.goto(base + '/ops/' + jti);
  seen.state = (await page.textContent('#state')).trim();
  check(seen.state === 'pending approval', 'the op waits for approval');
  seen.button = await text(page, 'form.passkey-approve button');
  check(seen.button === 'Approve as alice with a passkey', 'the page offers the passkey');

  // A forged signature is refused with the check named; nothing changes.
  await cdp.send('WebAuthn.setResponseOverrideBits', { authenticatorId, isBogusSignature: true });
  await page.click('form.passkey-approve button');
  await page.waitForSelector('form.passkey-approve .passkey-status[data-state=refused]');
  seen.forged = await text(page, 'form.passkey-approve .passkey-status');
  check(/^refused: signature: /.test(seen.forged), 'a bogus signature is refused as `signature`');
  seen.after_forged = (await page.textContent('#state')).trim();
  check(seen.after_forged === 'pending approval', 'the refused approval changed nothing');
  await page.screenshot({ path: `${shots}/passkey-refused.png`, fullPage: true });
  await cdp.send('WebAuthn.setResponseOverrideBits', { authenticatorId, isBogusSignature: false });

  // The real approval: the op starts, live, without a reload.
  await page.evaluate(() => { window.__kept = 'this page was not reloaded'; });
  await page.click('form.passkey-approve button');
  await page.waitForFunction(() => {
    const s = document.querySelector('#state');
    return s && !['pending approval'].includes(s.textContent.trim());
  }, null, { timeout: 30000 });
  await page.waitForFunction(() => document.querySelector('#state').textContent.trim() === 'succeeded', null, { timeout: 30000 });
  seen.final = (await page.textContent('#state')).trim();
  seen.approvals = await text(page, '#approvals');
  check(/approve by alice \(operator\)/.test(seen.approvals), 'the approval by alice is listed');
  check(await page.evaluate(() => window.__kept) === 'this page was not reloaded', 'the page followed the op in place');
  await page.screenshot({ path: `${shots}/passkey-approved.png`, fullPage: true });

  seen.errors = errors;
  check(errors.length === 0, 'no script error');
  console.log(JSON.stringify(seen));
} finally {
  await browser.close();
}
