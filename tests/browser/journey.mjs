// The visitor web app in a real browser (Debian's Chromium through playwright-core), with an
// accessibility check (axe-core) on every page of the journey.
// Usage: node journey.mjs <base url> <staff token that may read the SMS outbox> <screenshot dir>
//
// A phone-sized browser (360 px, Chinese) goes from the home page to the entry product, picks a
// date and a slot, is sent to sign in (phone, then the texted code, read from the local SMS
// outbox as the visitor would read their phone), adds a frequent visitor, accepts the notice,
// books, and sees the order with its QR code; then opens My orders and the personal centre, and books a seat at the dome from its seat map. Each page is checked with
// axe-core (WCAG 2 A/AA rules), for Content-Security-Policy violations and script errors, for
// fitting the screen, and photographed at phone and desktop sizes. Prints one JSON line of what
// it saw; the Rust test (crates/gatehouse/tests/it/browser.rs) judges it.
import { readFileSync, mkdirSync } from 'node:fs';
import { createRequire } from 'node:module';
import { chromium } from 'playwright-core';

const [base, staffToken, shots] = process.argv.slice(2);
if (!base || !staffToken || !shots) {
  console.error('usage: node journey.mjs <base url> <staff token> <screenshot dir>');
  process.exit(2);
}
mkdirSync(shots, { recursive: true });
const require = createRequire(import.meta.url);
const axeSource = readFileSync(require.resolve('axe-core/axe.min.js'), 'utf8');

const executablePath = process.env.CHROMIUM || '/usr/bin/chromium';
const browser = await chromium.launch({ executablePath, args: ['--no-sandbox'] });
const seen = { pages: [], error: null };
const phoneNumber = '13600000041';

async function outboxCode() {
  const r = await fetch(`${base}/api/v1/admin/sms-outbox?phone=${phoneNumber}`, {
    headers: { authorization: `Bearer ${staffToken}` },
  });
  const body = await r.json();
  const last = body.messages[body.messages.length - 1];
  return last.text.match(/\d{6}/)[0];
}

try {
  const context = await browser.newContext({
    viewport: { width: 360, height: 740 },
    locale: 'zh-CN',
    userAgent: 'Mozilla/5.0 (Linux; Android 14) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/130.0 Mobile Safari/537.36',
  });
  const page = await context.newPage();
  const cspErrors = [];
  const pageErrors = [];
  page.on('console', (m) => {
    if (m.type() === 'error' && /Content Security Policy/i.test(m.text())) cspErrors.push(m.text());
  });
  page.on('pageerror', (e) => pageErrors.push(String(e)));

  // Checks the page the phone is on and photographs it at both sizes.
  async function check(name) {
    await page.waitForLoadState('domcontentloaded');
    await page.evaluate(axeSource);
    const axe = await page.evaluate(() =>
      window.axe.run(document, { runOnly: { type: 'tag', values: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa'] } }),
    );
    const serious = axe.violations
      .filter((v) => v.impact === 'serious' || v.impact === 'critical')
      .map((v) => ({ id: v.id, impact: v.impact, nodes: v.nodes.slice(0, 3).map((n) => n.target.join(' ')) }));
    const info = {
      name,
      path: new URL(page.url()).pathname,
      title: await page.title(),
      lang: await page.evaluate(() => document.documentElement.lang),
      wider_than_screen: await page.evaluate(() => document.documentElement.scrollWidth > window.innerWidth),
      axe_serious: serious,
      axe_rules_passed: axe.passes.length,
    };
    await page.screenshot({ path: `${shots}/${name}-phone.png`, fullPage: true });
    // The same page (some are answers to a form post, which cannot be fetched again) at a
    // desktop's width, then back to the phone's.
    await page.setViewportSize({ width: 1280, height: 900 });
    await page.screenshot({ path: `${shots}/${name}-desktop.png`, fullPage: true });
    await page.setViewportSize({ width: 360, height: 740 });
    seen.pages.push(info);
  }

  await page.goto(base + '/');
  await check('home');
  await page.getByRole('link', { name: /预约入馆/ }).first().click();
  await check('dates');
  await page.locator('a.choice').first().click();
  await check('slots');
  await page.locator('a.choice').first().click();
  // Not signed in yet: the slot sends the visitor to sign in, then brings them back.
  await check('sign-in');
  await page.getByLabel(/手机号/).fill(phoneNumber);
  await page.getByRole('button', { name: '获取验证码' }).click();
  await check('code');
  await page.getByLabel(/验证码/).fill(await outboxCode());
  await page.getByRole('button', { name: '登录' }).click();
  await check('booking-form');
  await page.getByRole('link', { name: /添加参观人/ }).click();
  await check('add-visitor');
  await page.getByLabel(/姓名/).fill('王小明');
  await page.getByLabel(/证件号码/).fill(process.env.GH_ID_NUMBER);
  await page.getByRole('button', { name: '保存' }).click();
  await page.waitForLoadState('domcontentloaded');
  await page.locator('input[name="visitor"]').first().check();
  await page.getByLabel(/我已阅读并同意/).check();
  await page.getByLabel(/手机号/).fill('13800000041');
  await page.getByRole('button', { name: '确认预约' }).click();
  await check('order');
  seen.order_state = (await page.locator('.facts').textContent()).includes('已预约');
  seen.qr_codes = await page.locator('figure.qr svg').count();
  await page.getByRole('link', { name: '我的订单' }).first().click();
  await check('orders');
  await page.getByRole('link', { name: '个人中心' }).first().click();
  await check('me');
  // The dome's showing: the seat map must fit the phone (it scrolls inside its box) and pass axe.
  await page.goto(base + '/');
  await page.locator('li.card', { hasText: '宇宙之旅' }).getByRole('link').click();
  await page.locator('a.choice').first().click();
  await page.locator('a.choice').first().click();
  await check('seat-map');
  await page.locator('input[name="visitor"]').first().check();
  await page.getByLabel(/第 F 排 座位 7$/).check();
  await page.getByLabel(/我已阅读并同意/).check();
  await page.getByLabel(/手机号/).fill('13800000041');
  await page.getByRole('button', { name: '确认预约' }).click();
  await check('cinema-order');
  seen.cinema_seat = (await page.locator('.tickets').textContent()).includes('F7');
  seen.csp_errors = cspErrors;
  seen.page_errors = pageErrors;
} catch (e) {
  seen.error = String(e && e.stack ? e.stack : e);
} finally {
  await browser.close();
}
console.log(JSON.stringify(seen));
