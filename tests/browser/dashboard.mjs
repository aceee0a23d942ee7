// The dashboard in headless Chromium, as an operator uses it: sign in
// with a pasted token, read the overview, follow the pending op to its
// page, and check that nothing anyone wrote ran as script. Prints one
// JSON object of what it saw; exits non-zero on the first failed check.
// Usage: node dashboard.mjs <base-url> <token> <screenshot-dir>
import { check, launch, open, seen } from './lib.mjs';
import { writeFileSync } from 'node:fs';

const [base, token, shots] = process.argv.slice(2);

const browser = await launch();
try {
  const errors = [];
  const page = await open(browser, errors);
  page.on('dialog', async (d) => { errors.push(`dialog: ${d.message()}`); await d.dismiss(); });
  const requests = [];
  page.on('request', (r) => requests.push(r.url()));

  // Not signed in: sent to the sign-in page.
  await page.goto(base + '/');
  seen.first = new URL(page.url()).pathname;
  check(seen.first === '/login', 'an unsigned browser is sent to /login');
  // A wrong token is refused, said on the page.
  await page.fill('textarea[name=token]', 'not-a-token');
  await page.click('button[type=submit]');
  seen.refused = await page.textContent('#error');
  check(seen.refused && seen.refused.length > 0, 'a wrong token is refused with why');
  // The real one signs in.
  await page.fill('textarea[name=token]', token);
  await Promise.all([page.waitForURL(base + '/'), page.click('button[type=submit]')]);
  const cookies = await page.context().cookies();
  const session = cookies.find((c) => c.name === 'bosun_session');
  seen.cookie = session && { httpOnly: session.httpOnly, sameSite: session.sameSite };
  check(session && session.httpOnly && session.sameSite === 'Strict', 'the session cookie is HttpOnly and SameSite=Strict');
  check(await page.evaluate(() => document.cookie) === '', 'no script reads the session cookie');

  // The overview: what waits for a human first.
  seen.pending = (await page.textContent('#pending')).replace(/\s+/g, ' ').trim();
  check(/say/.test(seen.pending), 'the pending op is on the overview');
  seen.blockers = (await page.textContent('#blockers')).replace(/\s+/g, ' ').trim();
  check(/host-drifted/.test(seen.blockers), 'the active blocker is on the overview');
  await page.screenshot({ path: `${shots}/overview.png`, fullPage: true });

  // Follow the pending op to its page.
  await Promise.all([page.waitForURL(/\/ops\//), page.click('#pending a.mono')]);
  seen.state = (await page.textContent('#state')).trim();
  check(seen.state === 'pending approval', 'the op is pending approval');
  seen.digest = (await page.textContent('#digest')).trim();
  check(/^sha256:[0-9a-f]{64}$/.test(seen.digest), 'the plan digest is shown');
  seen.approve = (await page.textContent('#approve')).replace(/\s+/g, ' ').trim();
  check(/bosun approve [0-9a-z]+ --as/.test(seen.approve), 'the exact approve command is shown');
  seen.plan = (await page.textContent('#plan')).replace(/\s+/g, ' ').trim();
  check(seen.plan.includes('<img src=x onerror=alert(1)>'), 'a hostile param is shown as text');
  seen.injected = await page.evaluate(() => document.querySelectorAll('#plan img, main script').length);
  check(seen.injected === 0, 'no element a param wrote exists in the DOM');
  await page.screenshot({ path: `${shots}/op.png`, fullPage: true });

  // Live: an operator approves from the CLI (the test, once told we are
  // ready); the open page follows the op to its end without a reload.
  await page.evaluate(() => { window.__kept = 'this page was not reloaded'; });
  writeFileSync(`${shots}/ready`, 'ready');
  await page.waitForFunction(() => document.querySelector('#state').textContent.trim() === 'succeeded', null, { timeout: 30000 });
  seen.live_state = (await page.textContent('#state')).trim();
  seen.live_steps = (await page.textContent('#steps')).replace(/\s+/g, ' ').trim();
  check(/web-1/.test(seen.live_steps) && /succeeded/.test(seen.live_steps), "the run's step shows up live");
  seen.live_dag = (await page.textContent('#dag')).replace(/\s+/g, ' ').trim();
  check(/say ?succeeded/.test(seen.live_dag), 'the run graph shows the step live');
  check(await page.evaluate(() => window.__kept) === 'this page was not reloaded', 'the page updated in place');
  await page.screenshot({ path: `${shots}/op-done.png`, fullPage: true });

  // The op's ledger entries, each proof checked here in the browser
  // against the signed checkpoint (the daemon signs one within a second).
  await Promise.all([page.waitForURL(/\/ledger\?q=/), page.click('#ledger-link')]);
  for (let i = 0; i < 20 && await page.$('#proof-error'); i++) {
    await new Promise((r) => setTimeout(r, 500));
    await page.reload();
  }
  await page.waitForFunction(() => [...document.querySelectorAll('.proof .verdict')].every((v) => v.dataset.ok !== ''), null, { timeout: 10000 });
  seen.proofs = await page.$$eval('.proof .verdict', (vs) => vs.map((v) => [v.dataset.ok, v.textContent]));
  check(seen.proofs.length >= 3 && seen.proofs.every(([ok]) => ok === 'true'), 'every entry of the op is proved in the browser');
  check(/signed by lab/.test(seen.proofs[0][1]), 'the proof names the checkpoint signer');
  await page.screenshot({ path: `${shots}/ledger.png`, fullPage: true });
  // An entry edited after the fact fails the check, said on the page.
  seen.tampered = await page.evaluate(async () => {
    const el = document.querySelector('.proof');
    const p = JSON.parse(el.dataset.proof);
    p.entry = p.entry.replace('"claude"', '"alice"');
    el.dataset.proof = JSON.stringify(p);
    document.dispatchEvent(new Event('bosun:swapped'));
    await new Promise((r) => setTimeout(r, 500));
    const v = el.querySelector('.verdict');
    return [v.dataset.ok, v.textContent];
  });
  check(seen.tampered[0] === 'false' && /FAILED/.test(seen.tampered[1]), 'a tampered entry fails the check');

  // The blocker board and the hosts table, from the header's links.
  await Promise.all([page.waitForURL(/\/blockers$/), page.click('header a[href="/blockers"]')]);
  seen.board = (await page.textContent('#board')).replace(/\s+/g, ' ').trim();
  check(seen.board.includes('<script>alert(2)</script>'), 'a hostile blocker reason is shown as text');
  check(await page.evaluate(() => document.querySelectorAll('main script').length) === 0, 'no script element from a reason');
  await page.screenshot({ path: `${shots}/blockers.png`, fullPage: true });
  await Promise.all([page.waitForURL(/\/hosts$/), page.click('header a[href="/hosts"]')]);
  seen.hosts = (await page.textContent('#hosts')).replace(/\s+/g, ' ').trim();
  check(/web-2 .*host-drifted #1/.test(seen.hosts), 'the drifted host shows its blocker');
  await page.screenshot({ path: `${shots}/hosts.png`, fullPage: true });

  // Readable on a phone.
  await page.setViewportSize({ width: 390, height: 844 });
  await page.goto(base + '/');
  seen.phone_overflow = await page.evaluate(() => document.documentElement.scrollWidth > window.innerWidth + 1);
  await page.screenshot({ path: `${shots}/overview-phone.png`, fullPage: true });
  check(!seen.phone_overflow, 'the overview fits a phone without sideways scrolling');

  seen.errors = errors;
  check(errors.length === 0, 'no script error and no dialog (nothing injected ran)');
  const origin = new URL(base).origin;
  seen.foreign = requests.filter((u) => !u.startsWith(origin));
  check(seen.foreign.length === 0, 'nothing is loaded from another host');
  console.log(JSON.stringify(seen));
} finally {
  await browser.close();
}
