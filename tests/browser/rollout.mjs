// A rollout in headless Chromium, opened mid-way: the canary wave has
// passed its bars and waits for promotion; the test promotes it from the
// CLI and the open page follows the next wave live to the failed bar on
// web-2; then the blocker that failed bar filed, on the board.
// Prints one JSON object of what it saw; exits non-zero on a failed check.
// Usage: node rollout.mjs <base-url> <token> <screenshot-dir>
import { check, launch, open, seen, signIn, text } from './lib.mjs';
import { writeFileSync } from 'node:fs';

const [base, token, shots] = process.argv.slice(2);

const browser = await launch();
try {
  const errors = [];
  const page = await open(browser, errors);
  await signIn(page, base, token);

  // The rollout, between its waves: the canary's bars passed.
  await Promise.all([page.waitForURL(/\/rollouts$/), page.click('header a[href="/rollouts"]')]);
  await Promise.all([page.waitForURL(/\/rollouts\/pkg$/), page.click('a[href="/rollouts/pkg"]')]);
  seen.phase = await text(page, '#phase');
  seen.bars = await text(page, '#bars');
  check(/canary-1/.test(seen.bars) && !/fail/.test(seen.bars), "the canary's bars passed");
  seen.next = await text(page, 'main section.card');
  check(/rollout promote pkg/.test(seen.next), 'the next action is the promotion');
  await page.screenshot({ path: `${shots}/rollout-canary.png`, fullPage: true });

  // Promoted from a terminal: the page follows the wave live.
  await page.evaluate(() => { window.__kept = 'this page was not reloaded'; });
  writeFileSync(`${shots}/rollout-ready`, 'ready');
  const failed = await page.waitForFunction(() => /web-2\s*bar-\d+-probe\s*fail/.test(document.querySelector('#bars').textContent), null, { timeout: 60000 }).then(() => true, () => false);
  seen.bars_live = await text(page, '#bars');
  seen.runs_live = await text(page, '#runs');
  check(failed, "the failed bar on web-2 shows up live");
  seen.bars_after = await text(page, '#bars');
  seen.runs = await text(page, '#runs');
  check(/rest/.test(seen.runs) && /halted/.test(seen.runs), 'the wave shows halted');
  check(await page.evaluate(() => window.__kept) === 'this page was not reloaded', 'the page followed the rollout in place');
  await page.screenshot({ path: `${shots}/rollout-halted.png`, fullPage: true });

  // The blocker the failed bar filed.
  await Promise.all([page.waitForURL(/\/blockers$/), page.click('header a[href="/blockers"]')]);
  seen.board = await text(page, '#board');
  check(/regression/.test(seen.board) && /web-2/.test(seen.board), 'the regression blocker on web-2 is on the board');
  await page.screenshot({ path: `${shots}/rollout-blocker.png`, fullPage: true });

  seen.errors = errors;
  check(errors.length === 0, 'no script error');
  console.log(JSON.stringify(seen));
} finally {
  await browser.close();
}
