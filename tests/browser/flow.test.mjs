// End-to-end: the demo page in headless Chromium against the local stack
// (make dev), in both of OFAuth's integrations.
// Redirect flow: sign in, connect, approve on the simulator's hosted page, land
// on the success page, which completes the flow with its one-time code; cancel;
// reconnect (same id, no duplicate); disconnect (the "Connected" banner goes with
// it); the platform's events about it (the publisher on the stream), labelled by
// what they mean (bound, disconnected (user)), never "active → active"; a visitor who is not signed in is told nothing
// about a connection.
// Popup flow (OFAuth's embed library; its stand-in, and OFAuth's own build when
// OFAUTH_LINK_EMBED_JS names one): connect in the iframe; close it at a step;
// close it with a click outside it; an expired session replaced by a new one;
// OFAuth expiring the connection (the demo's banner about it goes).
// The demo does all of it through the browser client (client/).
// Checks DynamoDB through link-dev, and fails on any console error on the demo.
import { test } from "node:test";
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { mkdirSync, readFileSync } from "node:fs";
import { basename } from "node:path";
import { chromium } from "playwright-core";

const demo = process.env.DEMO_URL;
const sim = process.env.SIM_URL;
const linkDev = process.env.LINK_DEV;
const shots = process.env.SCREENSHOT_DIR;
// A build of OFAuth's @ofauth/link-embed that the user provides (never part of
// this repository): its ESM `embed.js` or its global script `embed.global.js`.
const realEmbed = process.env.OFAUTH_LINK_EMBED_JS;
assert.ok(demo && sim && linkDev && shots, "DEMO_URL, SIM_URL, LINK_DEV and SCREENSHOT_DIR are required");
mkdirSync(shots, { recursive: true });

// What DynamoDB holds for a connection (through link-dev, against DynamoDB Local).
function stored(id) {
  return JSON.parse(execFileSync(linkDev, ["show-connection", id], { encoding: "utf8" }));
}

async function linkInits() {
  const requests = await (await fetch(`${sim}/__sim/requests`)).json();
  return requests.filter((r) => r.path === "/v2/link/init").length;
}

test("demo flows in Chromium", async (t) => {
  const browser = await chromium.launch({
    executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
    args: [
      "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
      "--disable-background-networking", "--disable-component-update", "--disable-sync",
    ],
  });
  const page = await browser.newPage();
  const consoleErrors = [];
  const onDemo = () => page.url().startsWith(demo);
  page.on("console", (msg) => {
    if (msg.type() === "error" && onDemo()) consoleErrors.push(`${page.url()}: ${msg.text()}`);
  });
  page.on("pageerror", (err) => {
    if (onDemo()) consoleErrors.push(`${page.url()}: ${err.message}`);
  });
  const loaded = () => page.waitForSelector("body[data-loaded='true']");
  const result = async (kind) => {
    await page.waitForSelector(`#result[data-kind='${kind}']`);
    return page.textContent("#result");
  };
  // The real library's ids, which the stand-in shares.
  const frame = () => page.frameLocator("#ofauth-iframe");
  let connectionId;

  try {
    await t.test("redirect: sign in, connect, approve, complete on the success page", async () => {
      await page.goto(demo);
      await page.fill("#user-id", "alice");
      await page.click("#sign-in");
      await page.waitForSelector("#connect:visible");
      await Promise.all([page.waitForURL(/\/cs_[0-9a-f]+$/), page.click("#connect")]);
      await Promise.all([page.waitForURL(`${demo}/link/success**`), page.click("#approve")]);
      const text = await result("success");
      connectionId = text.replace("Connected: ", "");
      assert.match(connectionId, /^conn_/);
      // The one-time code is not left in the address bar.
      assert.equal(new URL(page.url()).search, "");
      const row = page.locator(`tr[data-id='${connectionId}']`);
      await row.waitFor();
      assert.equal(await row.getAttribute("data-status"), "active");
      await page.screenshot({ path: `${shots}/1-success.png`, fullPage: true });
      const rec = stored(connectionId);
      assert.equal(rec.userId, "alice");
      assert.equal(rec.status, "active");
      assert.equal(rec.connectionRecords, 1);
    });

    await t.test("redirect: cancel at 2fa lands on the cancelled page", async () => {
      await page.goto(demo);
      await loaded();
      await Promise.all([page.waitForURL(/\/cs_[0-9a-f]+$/), page.click("#connect")]);
      await page.selectOption("#cancel-step", "2fa");
      await Promise.all([page.waitForURL(`${demo}/link/cancelled?**`), page.click("#cancel")]);
      assert.equal(await result("cancelled"), "Cancelled at step: 2fa");
      await page.screenshot({ path: `${shots}/2-cancelled.png`, fullPage: true });
      assert.equal(stored(connectionId).connectionRecords, 1, "nothing recorded");
    });

    await t.test("redirect: reconnect keeps the same connection, no duplicate", async () => {
      await page.goto(demo);
      await loaded();
      const row = page.locator(`tr[data-id='${connectionId}']`);
      await row.waitFor();
      await Promise.all([page.waitForURL(/\/cs_[0-9a-f]+$/), row.locator("button.reconnect").click()]);
      await Promise.all([page.waitForURL(`${demo}/link/success**`), page.click("#approve")]);
      assert.equal(await result("success"), `Connected: ${connectionId}`);
      await page.locator(`tr[data-id='${connectionId}'][data-status='active']`).waitFor();
      assert.equal(await page.locator("#connections tbody tr").count(), 1);
      await page.screenshot({ path: `${shots}/3-reconnected.png`, fullPage: true });
      const rec = stored(connectionId);
      assert.equal(rec.userId, "alice");
      assert.equal(rec.connectionRecords, 1);
    });

    await t.test("redirect: disconnect removes it, and the banner about it goes", async () => {
      // The reconnect's success page still says the connection is connected: true until now.
      assert.equal(await page.locator("#result").isVisible(), true);
      assert.equal(await page.textContent("#result"), `Connected: ${connectionId}`);
      await page.locator(`tr[data-id='${connectionId}'] button.disconnect`).click();
      await page.waitForSelector("#no-connections:visible");
      // The list no longer shows it active (a disconnected connection is not listed) ...
      assert.equal(await page.locator(`tr[data-id='${connectionId}'][data-status='active']`).count(), 0);
      // ... and nothing on the page still says it is connected.
      await page.waitForSelector("#result", { state: "hidden", timeout: 5000 });
      assert.doesNotMatch(await page.innerText("body"), new RegExp(`Connected: ${connectionId}`));
      await page.screenshot({ path: `${shots}/4-disconnected.png`, fullPage: true });
      assert.equal(stored(connectionId).status, "disconnected");
    });

    await t.test("the platform heard of the connection and its disconnect, once each, labelled by meaning", async () => {
      // The publisher on DynamoDB Local's stream, through the EventBridge stand-in.
      const item = (type) => page.locator(`#events li[data-type='${type}'][data-connection='${connectionId}']`);
      await item("Connection Disconnected").waitFor();
      assert.equal(await item("Connection Bound").count(), 1);
      assert.equal(await item("Connection Disconnected").count(), 1);
      assert.equal(await item("Connection Bound").locator("strong").textContent(), "bound");
      assert.equal(await item("Connection Disconnected").locator("strong").textContent(), "disconnected (user)");
      // Every event reads as what it means, never as the statuses it moved between.
      const labels = await page.locator("#events li strong").allTextContents();
      for (const label of labels) {
        assert.match(label, /^(bound|reconnected|expired|disconnected \([a-z_]+\)|profile changed|user data erased)$/);
      }
      assert.doesNotMatch(await page.textContent("#events"), /active → active|→/);
      await page.screenshot({ path: `${shots}/4b-platform-events.png`, fullPage: true });
    });

    await t.test("redirect: a visitor who is not signed in is told nothing about a connection", async () => {
      // A Link URL someone else started lands its victim here, signed out.
      await page.evaluate(() => localStorage.removeItem("demoUser"));
      await page.goto(`${demo}/link/success?status=success&code=lc_${"0".repeat(80)}`);
      const text = await result("cancelled");
      assert.match(text, /^Sign in/);
      assert.doesNotMatch(await page.textContent("body"), /conn_/);
      assert.equal(new URL(page.url()).search, "", "the code is not left in the address bar");
      await page.fill("#user-id", "alice");
      await page.click("#sign-in");
      await loaded();
    });

    const ctx = { page, result, loaded, frame, connectionId, user: "alice" };
    await popupCases(t, "stand-in", demo, ctx);

    await t.test("a banner about a connection goes when OFAuth expires it (the list the demo rereads)", async () => {
      // The last popup case's banner; OFAuth (the simulator) expires that
      // connection and tells the webhook: the demo hears the event and rereads the list.
      const text = await page.textContent("#result");
      const id = text.replace("Connected: ", "");
      assert.match(id, /^conn_/);
      const r = await fetch(`${sim}/__sim/connections/${id}/expire`, { method: "POST" });
      assert.equal(r.status, 204);
      await page.locator(`tr[data-id='${id}'][data-status='expired']`).waitFor({ timeout: 20000 });
      await page.waitForSelector("#result", { state: "hidden", timeout: 5000 });
      assert.doesNotMatch(await page.innerText("body"), new RegExp(`Connected: ${id}`));
      const expired = page.locator(`#events li[data-type='Connection Expired'][data-connection='${id}']`);
      await expired.waitFor();
      assert.equal(await expired.locator("strong").textContent(), "expired");
      await page.screenshot({ path: `${shots}/7b-expired.png`, fullPage: true });
    });

    if (realEmbed) {
      // OFAuth's own build in place of the stand-in: the global script under the
      // stand-in's name, or the ESM build as /ofauth-link-embed.js (?embed=file).
      const code = readFileSync(realEmbed, "utf8");
      const global = basename(realEmbed).includes(".global.");
      const served = global ? "**/ofauth-link-embed-standin.js" : "**/ofauth-link-embed.js";
      await page.route(served, (route) => route.fulfill({ contentType: "text/javascript", body: code }));
      // Another user: alice has used up her sessions for the rate limit's window.
      await page.evaluate(() => localStorage.setItem("demoUser", "carol"));
      const home = global ? demo : `${demo}/?embed=file`;
      await popupCases(t, `OFAuth's ${basename(realEmbed)}`, home, { ...ctx, user: "carol" });
      await page.unroute(served);
    } else {
      await t.test("popup, with OFAuth's own embed library", {
        skip: "OFAUTH_LINK_EMBED_JS does not name a build of @ofauth/link-embed (docs/testing.md)",
      }, () => {});
    }

    await t.test("no console errors on the demo page", () => {
      assert.deepEqual(consoleErrors, []);
    });
  } finally {
    await browser.close();
  }
});

// The popup flow's cases, with whichever embed library `home` loads.
async function popupCases(t, label, home, { page, result, loaded, frame, connectionId, user }) {
  const slug = label.replace(/[^a-z0-9]+/gi, "-").toLowerCase();
  await t.test(`popup (${label}): connect in the embedded iframe`, async () => {
    await page.goto(home);
    await loaded();
    await page.click("#connect-popup");
    await frame().locator("#approve").click();
    const text = await result("success");
    const id = text.replace("Connected: ", "");
    assert.match(id, /^conn_/);
    assert.notEqual(id, connectionId);
    // The iframe is gone and the page never left the demo.
    await page.waitForSelector("#ofauth-iframe", { state: "detached" });
    assert.equal(new URL(page.url()).pathname, "/");
    assert.equal(await page.locator("#ofauth-modal-overlay").count(), 0, "the overlay is gone too");
    // The library that ran is the one this pass is about (the real one, loaded
    // either way, sets window.OFAuth.LinkEmbed over the stand-in's).
    assert.equal(await page.evaluate(() => Boolean(window.OFAuth.LinkEmbed.standIn)), label === "stand-in");
    await page.locator(`tr[data-id='${id}'][data-status='active']`).waitFor();
    await page.screenshot({ path: `${shots}/5-popup-connected-${slug}.png`, fullPage: true });
    const rec = stored(id);
    assert.equal(rec.userId, user);
    assert.equal(rec.status, "active");
  });

  await t.test(`popup (${label}): closing it at a step reports the step`, async () => {
    await page.click("#connect-popup");
    await frame().locator("#cancel-step").selectOption("login");
    await frame().locator("#cancel").click();
    assert.equal(await result("cancelled"), "Closed at step: login");
    await page.waitForSelector("#ofauth-iframe", { state: "detached" });
    await page.screenshot({ path: `${shots}/6-popup-closed-${slug}.png`, fullPage: true });
  });

  await t.test(`popup (${label}): a click outside it closes it`, async () => {
    // The library's close(): exit_requested to the page, which answers exit.
    await page.evaluate(() => { document.getElementById("result").dataset.kind = ""; });
    await page.click("#connect-popup");
    await frame().locator("#approve").waitFor();
    await page.mouse.click(5, 5);
    assert.equal(await result("cancelled"), "Closed at step: pre-login");
    await page.waitForSelector("#ofauth-iframe", { state: "detached" });
    await page.waitForSelector("#ofauth-modal-overlay", { state: "detached" });
  });

  await t.test(`popup (${label}): an expired session is replaced by a new one`, async () => {
    const before = await linkInits();
    await fetch(`${sim}/__sim/hosted`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ invalidSessions: 1 }),
    });
    await page.click("#connect-popup");
    await page.waitForFunction(() =>
      document.getElementById("message").textContent.includes("expired; opened a new one"),
    );
    await frame().locator("#approve").click();
    const text = await result("success");
    assert.match(text, /^Connected: conn_/);
    assert.equal(await linkInits(), before + 2, "a second session was created");
    await page.screenshot({ path: `${shots}/7-popup-new-session-${slug}.png`, fullPage: true });
  });
}
