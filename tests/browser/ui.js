// ui.js: airlock's web page in headless Chromium (Debian's /usr/bin/chromium) through
// puppeteer-core: log in with a token, see sandbox NAME appear in the list, open it,
// reset it (confirming the dialog), see the reset's audit event arrive on the page.
// Saves a screenshot and prints its path. Prints TAP lines; exits non-zero on a failure.
//
// Usage: node tests/browser/ui.js BASE_URL TOKEN NAME [SCREENSHOT] [TIMEOUT_S]
'use strict';
const puppeteer = require('puppeteer-core');

const [base, token, name, shot = '/tmp/airlock-ui.png', timeoutS = '300'] = process.argv.slice(2);
if (!base || !token || !name) {
  console.error('usage: node ui.js BASE_URL TOKEN NAME [SCREENSHOT] [TIMEOUT_S]');
  process.exit(2);
}
const timeout = Number(timeoutS) * 1000;
const since = new Date().toISOString(); // records from earlier runs are replayed too: only newer ones count

// An event of @event about @name, successful, recorded at or after @after, in list @list.
function eventAfter(list, event, name, after) {
  return [...document.querySelectorAll(list + ' li')].some((li) => li.dataset.event === event &&
    li.dataset.sandbox === name && !li.classList.contains('failed') && li.dataset.time >= after);
}
let n = 0, failed = 0;
const ok = (cond, desc) => { n++; if (!cond) failed++; console.log((cond ? 'ok ' : 'not ok ') + n + ' - browser: ' + desc); };

(async () => {
  const browser = await puppeteer.launch({
    executablePath: '/usr/bin/chromium',
    headless: true,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-background-networking',
           '--disable-component-update', '--disable-sync'],
  });
  const errors = [];
  try {
    const page = await browser.newPage();
    await page.setViewport({ width: 1280, height: 1000 });
    page.on('pageerror', (e) => errors.push(e.message));
    page.on('dialog', (d) => d.accept());
    await page.goto(base + '/', { waitUntil: 'domcontentloaded' });
    await page.waitForSelector('#login-form', { visible: true, timeout: 10000 });
    ok(true, 'the page asks for a token');
    await page.type('#token', token);
    await page.click('#login-form button');
    await page.waitForSelector('#main', { visible: true, timeout: 10000 });
    const who = await page.$eval('#who', (e) => e.textContent);
    ok(who.length > 0, 'logged in as ' + who);
    const row = `#sandboxes tbody tr[data-name="${name}"]`;
    await page.waitForSelector(row, { timeout });
    ok(true, 'sandbox ' + name + ' appears in the list');
    // A refresh updates rows in place: the row being clicked is not swapped for a new node.
    const kept = await page.evaluate(async (sel) => {
      const before = document.querySelector(sel);
      await loadList();
      return document.querySelector(sel) === before && before.isConnected;
    }, row);
    ok(kept, 'a list refresh keeps the row (no detached node under the pointer)');
    await page.click(row);
    await page.waitForFunction((nm) => document.querySelector('#sb-name').textContent === nm &&
      !document.querySelector('#sandbox-view').hidden, { timeout: 20000 }, name);
    ok(true, 'its page opens');
    // The row shows up once libvirt knows the domain; the create is over at its audit record.
    await page.waitForFunction(eventAfter, { timeout }, '#events', 'create', name, since);
    ok(true, 'the create event arrives live');
    await page.waitForFunction(() => document.querySelector('#sb-details').children.length > 0, { timeout: 20000 });
    const clicked = new Date().toISOString();
    await page.click('#reset');
    await page.waitForFunction(() => /^reset to /.test(document.querySelector('#action-status').textContent) ||
      /not|cannot|fail/i.test(document.querySelector('#action-status').textContent), { timeout: 120000 });
    const status = await page.$eval('#action-status', (e) => e.textContent);
    ok(/^reset to clean/.test(status), 'reset through the page: ' + status);
    await page.waitForFunction(eventAfter, { timeout: 20000 }, '#sb-events', 'reset', name, clicked);
    ok(true, 'the reset event arrives on the sandbox page');
    await new Promise((r) => setTimeout(r, 500));
    await page.screenshot({ path: shot, fullPage: true });
    console.log('# screenshot: ' + shot);
    ok(errors.length === 0, 'no script errors' + (errors.length ? ': ' + errors.join('; ') : ''));
  } catch (e) {
    ok(false, 'unexpected: ' + e.message);
  } finally {
    await browser.close();
  }
  process.exit(failed ? 1 : 0);
})();
