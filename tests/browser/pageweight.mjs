// How light the web app's pages are, in headless Chromium (the figure issue 10 names: the home
// page ≤ 100 KB transferred and first render ≤ 1 s on the 2-core machine).
// Usage: node pageweight.mjs <base url> [runs] [path ...]
//
// For each path (default `/`), loads the page `runs` times (default 5) in a fresh phone-sized
// browser context (empty cache, so every asset is fetched), and records the bytes transferred
// (every response's encoded body plus headers, from the DevTools network events), the number of
// requests, and the first contentful paint and load times from the page's own performance
// entries. Prints one JSON object with the median and worst of each.
import { chromium } from 'playwright-core';

const [base, runsArg, ...paths] = process.argv.slice(2);
if (!base) {
  console.error('usage: node pageweight.mjs <base url> [runs] [path ...]');
  process.exit(2);
}
const runs = Number(runsArg || 5);
const executablePath = process.env.CHROMIUM || '/usr/bin/chromium';
const browser = await chromium.launch({ executablePath, args: ['--no-sandbox'] });

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor((xs.length - 1) / 2)];
const worst = (xs) => Math.max(...xs);

const report = { benchmark: 'pageweight', base, runs, pages: [] };
try {
  for (const path of paths.length ? paths : ['/']) {
    const samples = [];
    for (let i = 0; i < runs; i += 1) {
      const context = await browser.newContext({ viewport: { width: 360, height: 740 }, locale: 'zh-CN' });
      const page = await context.newPage();
      const cdp = await context.newCDPSession(page);
      await cdp.send('Network.enable');
      let bytes = 0;
      let requests = 0;
      cdp.on('Network.loadingFinished', (e) => {
        bytes += e.encodedDataLength;
        requests += 1;
      });
      await page.goto(base + path, { waitUntil: 'load' });
      // Let the last loadingFinished events arrive.
      await page.waitForTimeout(100);
      const timing = await page.evaluate(() => {
        const paint = performance.getEntriesByName('first-contentful-paint')[0];
        const nav = performance.getEntriesByType('navigation')[0];
        return { fcp: paint ? paint.startTime : null, load: nav ? nav.loadEventEnd : null };
      });
      samples.push({ bytes, requests, fcp_ms: timing.fcp, load_ms: timing.load });
      await context.close();
    }
    const pick = (k) => samples.map((s) => s[k]);
    report.pages.push({
      path,
      transferred_bytes_median: median(pick('bytes')),
      transferred_bytes_max: worst(pick('bytes')),
      requests: median(pick('requests')),
      first_contentful_paint_ms_median: median(pick('fcp_ms')),
      first_contentful_paint_ms_max: worst(pick('fcp_ms')),
      load_ms_median: median(pick('load_ms')),
      load_ms_max: worst(pick('load_ms')),
    });
  }
} finally {
  await browser.close();
}
console.log(JSON.stringify(report));
