// Traffic protection's challenge page in a real browser (Debian's Chromium through
// playwright-core). Usage: node challenge.mjs <url of a challenged page>
//
// A phone-sized browser opens the URL, gets the challenge page, lets its solver do the work and
// reload, and must then see the page itself. Then the pass it earned is carried, cookie and all,
// into a browser with another user agent, which must be challenged again. The page must have the
// web app's look (its stylesheet and header), pass axe-core, and be in English for a browser that
// asks for English. Prints one JSON line
// of what it saw; the Rust test (crates/gatehouse/tests/it/browser.rs) judges it.
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { chromium } from 'playwright-core';

const axeSource = readFileSync(createRequire(import.meta.url).resolve('axe-core/axe.min.js'), 'utf8');

const url = process.argv[2];
if (!url) {
  console.error('usage: node challenge.mjs <url>');
  process.exit(2);
}

const executablePath = process.env.CHROMIUM || '/usr/bin/chromium';
const browser = await chromium.launch({ executablePath, args: ['--no-sandbox'] });
const seen = {};
try {
  const phone = await browser.newContext({
    viewport: { width: 360, height: 740 },
    locale: 'zh-CN',
    userAgent: 'Mozilla/5.0 (Linux; Android 14) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/130.0 Mobile Safari/537.36',
  });
  const page = await phone.newPage();
  const errors = [];
  page.on('pageerror', (e) => errors.push(String(e)));
  page.on('console', (m) => {
    if (m.type() === 'error' && /Content Security Policy/i.test(m.text())) errors.push(m.text());
  });
  // The solver's answer waits until the challenge page has been looked at (a quick solve
  // would otherwise reload it first).
  let looked;
  const lookedAt = new Promise((resolve) => { looked = resolve; });
  await page.route('**/.gatehouse/challenge', async (route) => {
    await lookedAt;
    await route.continue();
  });
  // Registered before the first navigation, so the answered reload cannot be missed.
  const passed = page.waitForResponse((r) => r.url() === url && r.status() === 200, { timeout: 120_000 });
  const started = Date.now();
  const first = await page.goto(url, { waitUntil: 'domcontentloaded' });
  seen.first_status = first.status();
  seen.title = await page.title();
  seen.lang = await page.evaluate(() => document.documentElement.lang);
  seen.wider_than_screen = await page.evaluate(
    () => document.documentElement.scrollWidth > window.innerWidth,
  );
  seen.sms_offered = await page.locator('#gh-sms').isVisible();
  // The web app's look: its stylesheet and header, and no Content-Security-Policy violation.
  seen.app_stylesheet = await page.evaluate(() =>
    [...document.querySelectorAll('link[rel=stylesheet]')].some((l) => l.getAttribute('href').startsWith('/assets/app-')),
  );
  seen.site_header = await page.locator('header.site a.brand').count();
  await page.evaluate(axeSource);
  const axe = await page.evaluate(() =>
    window.axe.run(document, { runOnly: { type: 'tag', values: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa'] } }),
  );
  seen.axe_serious = axe.violations
    .filter((v) => v.impact === 'serious' || v.impact === 'critical')
    .map((v) => v.id);
  looked();
  await passed;
  seen.solved_ms = Date.now() - started;
  await page.waitForLoadState('domcontentloaded');
  seen.body_after = (await page.textContent('body')).slice(0, 200);
  const cookies = await phone.cookies();
  const pass = cookies.find((c) => c.name === 'gh_pass');
  seen.pass_cookie = Boolean(pass);
  seen.pass_http_only = Boolean(pass && pass.httpOnly);
  const again = await page.goto(url);
  seen.again_status = again.status();
  seen.page_errors = errors;

  // In English for a browser that asks for it.
  const english = await browser.newContext({ locale: 'en-GB', extraHTTPHeaders: { 'accept-language': 'en-GB,en;q=0.9' } });
  const en = await english.newPage();
  await en.route('**/.gatehouse/challenge', () => {});
  await en.goto(url, { waitUntil: 'domcontentloaded' });
  seen.english_title = await en.title();
  seen.english_lang = await en.evaluate(() => document.documentElement.lang);

  // The same pass in another browser (another user agent): challenged again.
  const other = await browser.newContext({ userAgent: 'Mozilla/5.0 (X11; Linux x86_64) Firefox/130.0' });
  if (pass) await other.addCookies([pass]);
  const stolen = await (await other.newPage()).goto(url, { waitUntil: 'domcontentloaded' });
  seen.replayed_status = stolen.status();
} catch (e) {
  seen.error = String(e);
} finally {
  await browser.close();
}
console.log(JSON.stringify(seen));
