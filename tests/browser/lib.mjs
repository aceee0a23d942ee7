// What the browser tests share: Chromium (Debian's, through
// playwright-core), the check that ends a script with what it saw, text
// with its whitespace folded, and signing in by pasting a token.
import { chromium } from 'playwright-core';

export const seen = {};

// Ends the script (status 1) with `what` and everything seen so far.
export function check(ok, what) {
  if (!ok) {
    console.error(`FAILED: ${what}\n${JSON.stringify(seen, null, 1)}`);
    process.exit(1);
  }
}

export async function text(page, sel) {
  return (await page.textContent(sel)).replace(/\s+/g, ' ').trim();
}

export async function launch() {
  return chromium.launch({
    executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
      '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
}

// A page that records script errors into `errors`.
export async function open(browser, errors) {
  const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
  page.on('pageerror', (e) => errors.push(String(e)));
  return page;
}

export async function signIn(page, base, token) {
  await page.goto(base + '/login');
  await page.fill('textarea[name=token]', token);
  await Promise.all([page.waitForURL(base + '/'), page.click('button[type=submit]')]);
}
