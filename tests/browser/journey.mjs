// The visitor web app in a real browser (Debian's Chromium through playwright-core), with an
// accessibility check (axe-core) on every page of the journey.
// Usage: node journey.mjs <base url> <staff token that may read the SMS outbox> <screenshot dir>
//
// A phone-sized browser (360 px, Chinese) goes from the home page to the entry product, picks a
// date and a slot, is sent to sign in (phone, then the texted code, read from the local SMS
// outbox as the visitor would read their phone), adds a frequent visitor, accepts the notice,
// books, and sees the order with its QR code; then opens My orders and the personal centre,
// books a seat at the dome from its seat map, pays for it at the local Alipay cashier and
// refunds it, and books a hall and an activity. A gate checks the entry ticket in. The
// break-glass administrator signs in to the staff console, finds the order by the contact
// phone's last four, reveals the ID number with a purpose, and sees the check-in and the
// reveal in the audit log. The visitor downloads their data (deleting waits for the visits
// ahead); a second visitor deletes their account. Each page is checked with
// axe-core (WCAG 2 A/AA rules), for Content-Security-Policy violations and script errors, for
// fitting the screen, and photographed at phone and desktop sizes. Prints one JSON line of what
// it saw; the Rust test (crates/gatehouse/tests/it/browser.rs) judges it.
import { readFileSync, mkdirSync } from 'node:fs';
import { createHmac } from 'node:crypto';
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

const secondPhone = '13600000042';

// RFC 6238 one-time code (SHA-1, 30 s, 6 digits) from a base32 secret, as an authenticator app.
function totp(secretBase32) {
  const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';
  let bits = '';
  for (const c of secretBase32.replace(/=+$/, '')) bits += alphabet.indexOf(c).toString(2).padStart(5, '0');
  const key = Buffer.from(bits.match(/.{8}/g).map((b) => parseInt(b, 2)));
  const counter = Buffer.alloc(8);
  counter.writeBigUInt64BE(BigInt(Math.floor(Date.now() / 1000 / 30)));
  const mac = createHmac('sha1', key).update(counter).digest();
  const offset = mac[mac.length - 1] & 0xf;
  const value = (mac.readUInt32BE(offset) & 0x7fffffff) % 1000000;
  return String(value).padStart(6, '0');
}

async function outboxCode(phone = phoneNumber) {
  const r = await fetch(`${base}/api/v1/admin/sms-outbox?phone=${phone}`, {
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
  let pageUnderCheck = page;

  // Checks the page under check (the phone's, or the staff console's) and photographs it at
  // both sizes.
  async function check(name) {
    const page = pageUnderCheck;
    const size = page.viewportSize();
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
      axe_serious: serious,
      axe_rules_passed: axe.passes.length,
    };
    // The same page (some are answers to a form post, which cannot be fetched again) at a
    // phone's and a desktop's width, then back to the size it had.
    await page.setViewportSize({ width: 360, height: 740 });
    info.wider_than_screen = await page.evaluate(() => document.documentElement.scrollWidth > window.innerWidth);
    await page.screenshot({ path: `${shots}/${name}-phone.png`, fullPage: true });
    await page.setViewportSize({ width: 1280, height: 900 });
    await page.screenshot({ path: `${shots}/${name}-desktop.png`, fullPage: true });
    await page.setViewportSize(size);
    seen.pages.push(info);
  }

  // From a product's dates to the first date with a slot still open (late in the day, today's
  // slots have all closed).
  async function toDateWithOpenSlot() {
    const dates = await page.locator('a.choice').evaluateAll((links) => links.map((a) => a.href));
    for (const date of dates) {
      await page.goto(date);
      if (await page.locator('a.choice').count() > 0) return;
    }
    throw new Error('no date with an open slot');
  }

  await page.goto(base + '/');
  await check('home');
  await page.getByRole('link', { name: /预约入馆/ }).first().click();
  await check('dates');
  await toDateWithOpenSlot();
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
  // The cinema as the museum runs it: theatre type → date → film → showing.
  await page.goto(base + '/');
  await page.getByRole('link', { name: '按影厅、日期选场次' }).click();
  await check('theatres');
  await page.locator('a.choice', { hasText: '球幕影院' }).click();
  await check('cinema-dates');
  const dates = await page.locator('a.choice').evaluateAll((links) => links.map((a) => a.href));
  let checkedFilms = false;
  for (const date of dates) {
    await page.goto(date);
    if (!checkedFilms) {
      await check('films');
      checkedFilms = true;
    }
    const showings = page.locator('section.film', { hasText: '宇宙之旅' }).locator('a.choice');
    if (await showings.count() > 0) {
      await showings.first().click();
      break;
    }
  }
  await check('seat-map');
  await page.locator('input[name="visitor"]').first().check();
  await page.getByLabel(/第 F 排 座位 7$/).check();
  await page.getByLabel(/我已阅读并同意/).check();
  await page.getByLabel(/手机号/).fill('13800000041');
  await page.getByRole('button', { name: '确认预约' }).click();
  await check('cinema-order');
  seen.cinema_seat = (await page.locator('.tickets').textContent()).includes('F7');
  const cinemaOrder = page.url();

  // Pays at the local provider's Alipay cashier (the pay step follows its link at once), comes
  // back to My orders, and finds the order paid with its QR code; then refunds that ticket.
  await page.getByRole('button', { name: '支付宝支付' }).click();
  await page.getByRole('button', { name: /确认付款/ }).click();
  await page.waitForURL(/\/orders/);
  await page.goto(cinemaOrder);
  await check('cinema-paid');
  seen.cinema_paid = (await page.locator('.facts').textContent()).includes('已预约');
  seen.cinema_qr = await page.locator('figure.qr svg').count();
  await page.locator('input[name="ticket"]').first().check();
  await page.getByRole('button', { name: '退所选门票' }).click();
  await check('cinema-refunded');
  seen.cinema_refunded = (await page.locator('.facts').textContent()).includes('已退票');

  // The other two kinds: a hall and an activity, each from its card on the home page.
  for (const [name, shot] of [['儿童科学乐园', 'hall-order'], ['科学秀：液氮实验', 'activity-order']]) {
    await page.goto(base + '/');
    await page.locator('li.card', { hasText: name }).getByRole('link').first().click();
    await toDateWithOpenSlot();
    await page.locator('a.choice').first().click();
    await page.locator('input[name="visitor"]').first().check();
    await page.getByLabel(/我已阅读并同意/).check();
    await page.getByLabel(/手机号/).fill('13800000041');
    await page.getByRole('button', { name: '确认预约' }).click();
    await check(shot);
    seen[shot] = (await page.locator('.facts').textContent()).includes('已预约');
  }

  // A gate checks the entry ticket in (its code read through the API with the visitor's session).
  const entry = await (await page.request.get(`${base}/api/v1/orders?kind=entry`)).json();
  const code = entry.orders[0].tickets[0].code;
  const entryDate = entry.orders[0].slot.date;
  const gate = await (await fetch(`${base}/api/v1/admin/gates`, {
    method: 'POST',
    headers: { authorization: `Bearer ${staffToken}`, 'content-type': 'application/json' },
    body: JSON.stringify({ name: '东门 East gate' }),
  })).json();
  const scan = await fetch(`${base}/api/v1/gate/scan`, {
    method: 'POST',
    headers: { authorization: `Bearer ${gate.token}`, 'content-type': 'application/json' },
    body: JSON.stringify({ code }),
  });
  seen.gate_status = scan.status;

  // The waiting room: staff protect the day of a hall whose booking opens in about two hours
  // (pre-queue open now); the visitor's waiting page offers to join, then shows the place.
  const staffJson = { authorization: `Bearer ${staffToken}`, 'content-type': 'application/json' };
  const opening = new Date(Date.now() + (8 + 2) * 3600e3); // Beijing wall time, two hours on
  const openAt = `${String(opening.getUTCHours()).padStart(2, '0')}:${String(opening.getUTCMinutes()).padStart(2, '0')}`;
  const hall = await (await fetch(`${base}/api/v1/admin/products`, {
    method: 'POST', headers: staffJson,
    body: JSON.stringify({ kind: 'hall', name: '排队大厅', rules: { open_days_before: 1, open_at: openAt } }),
  })).json();
  const queuedDay = new Date(opening.getTime() + 24 * 3600e3).toISOString().slice(0, 10);
  const release = await (await fetch(`${base}/api/v1/admin/releases`, {
    method: 'POST', headers: staffJson,
    body: JSON.stringify({ product_id: hall.id, date: queuedDay, prequeue_minutes: 180 }),
  })).json();
  const polls = [];
  page.on('response', (r) => { if (new URL(r.url()).pathname.startsWith('/q/')) polls.push(r.status()); });
  await page.goto(`${base}/queue/${release.id}`);
  await check('queue');
  await page.getByRole('button', { name: '加入排队' }).click();
  await check('queue-joined');
  seen.queue_status = (await page.locator('#queue-status').textContent()).trim();
  // The place polls its own address (not the page) every 3 s.
  await page.waitForTimeout(3500);
  seen.queue_polls = polls;

  // Staff: the break-glass administrator signs in with password and one-time code, finds the
  // order by the contact phone's last four, reveals the visitor's ID number with a purpose,
  // sees the check-in, and the reveal in the audit log.
  const staff = await browser.newContext({ viewport: { width: 1280, height: 900 }, locale: 'zh-CN' });
  const console_ = await staff.newPage();
  console_.on('console', (m) => {
    if (m.type() === 'error' && /Content Security Policy/i.test(m.text())) cspErrors.push(m.text());
  });
  console_.on('pageerror', (e) => pageErrors.push(String(e)));
  const onPhone = page;
  pageUnderCheck = console_;
  await console_.goto(base + '/staff');
  await check('staff-sign-in');
  await console_.getByLabel('用户名').fill('root');
  await console_.getByLabel('密码').fill(process.env.GH_BREAK_GLASS_PASSWORD);
  await console_.getByLabel(/动态验证码/).fill(totp(process.env.GH_TOTP_SECRET));
  await console_.getByRole('button', { name: '登录' }).click();
  await check('console');
  await console_.getByRole('link', { name: '订单' }).first().click();
  await console_.getByLabel(/订单号/).fill('0041');
  await console_.getByRole('button', { name: '查找' }).click();
  await check('staff-search');
  await console_.locator('li.card a').first().click();
  await check('staff-order');
  // The options: the contact phone, then each ticket's name and ID number.
  await console_.getByLabel('要查看的信息').selectOption({ index: 2 });
  await console_.getByLabel(/查看原因/).fill('访客来电核对证件号 visitor called to check the ID');
  await console_.getByRole('button', { name: '查看明文' }).click();
  await check('staff-reveal');
  seen.revealed = (await console_.locator('#revealed-value').textContent()).trim();
  await console_.getByRole('link', { name: '入馆核验' }).first().click();
  await console_.getByLabel('日期').fill(entryDate);
  await console_.getByRole('button', { name: '查看' }).click();
  await check('staff-check-in');
  // The entry slot's row (slot, sold, checked in, per gate) shows the one let in at the east gate.
  seen.checked_in_rows = await console_
    .locator('#counts tr', { hasText: '科技馆入馆预约' })
    .filter({ has: console_.locator('td:nth-child(3)', { hasText: /^1$/ }) })
    .filter({ hasText: '东门 East gate 1' })
    .count();
  await console_.getByRole('link', { name: '审计日志' }).first().click();
  await check('staff-audit');
  seen.audit_has_reveal = (await console_.locator('table').textContent()).includes('visitor called to check the ID');
  await console_.getByRole('link', { name: '商品与场次' }).first().click();
  await check('staff-catalogue');
  await console_.getByRole('link', { name: '科技馆入馆预约' }).click();
  await check('staff-product');
  await console_.getByRole('link', { name: '个人信息保护' }).first().click();
  await check('staff-privacy');
  pageUnderCheck = onPhone;

  // The visitor downloads their data; deleting waits while visits are ahead (and says so).
  await page.goto(base + '/me');
  const [download] = await Promise.all([
    page.waitForEvent('download'),
    page.getByRole('link', { name: '下载我的数据' }).click(),
  ]);
  const exported = JSON.parse(readFileSync(await download.path(), 'utf8'));
  seen.export_has_visitor = JSON.stringify(exported).includes('王小明');
  await page.getByRole('link', { name: '删除账户' }).click();
  await check('erase');
  await page.getByLabel(/请输入以确认/).fill('erase my account');
  await page.getByRole('button', { name: '删除账户' }).click();
  await check('erase-waits');
  seen.erase_waits = (await page.locator('main').textContent()).includes('orders are still ahead');

  // A second visitor with no visit ahead deletes their account.
  const other = await browser.newContext({ viewport: { width: 360, height: 740 }, locale: 'zh-CN' });
  const second = await other.newPage();
  pageUnderCheck = second;
  await second.goto(base + '/signin?back=/me');
  await second.getByLabel(/手机号/).fill(secondPhone);
  await second.getByRole('button', { name: '获取验证码' }).click();
  await second.getByLabel(/验证码/).fill(await outboxCode(secondPhone));
  await second.getByRole('button', { name: '登录' }).click();
  await second.goto(base + '/me/erase');
  await second.getByLabel(/请输入以确认/).fill('erase my account');
  await second.getByRole('button', { name: '删除账户' }).click();
  await check('erased');
  seen.erased = (await second.locator('h1').textContent()).includes('账户已删除');
  pageUnderCheck = onPhone;

  seen.csp_errors = cspErrors;
  seen.page_errors = pageErrors;
} catch (e) {
  seen.error = String(e && e.stack ? e.stack : e);
} finally {
  await browser.close();
}
console.log(JSON.stringify(seen));
