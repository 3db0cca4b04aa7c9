// End-to-end: the demo page in headless Chromium against the local stack
// (make dev): sign in, connect, approve on the simulator's hosted page, land on
// the success page, see the connection, check DynamoDB; then cancel, reconnect
// (same id, no duplicate) and disconnect. Fails on any console error on the demo.
import { test } from "node:test";
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { mkdirSync } from "node:fs";
import { chromium } from "playwright-core";

const demo = process.env.DEMO_URL;
const linkDev = process.env.LINK_DEV;
const shots = process.env.SCREENSHOT_DIR;
assert.ok(demo && linkDev && shots, "DEMO_URL, LINK_DEV and SCREENSHOT_DIR are required");
mkdirSync(shots, { recursive: true });

// What DynamoDB holds for a connection (through link-dev, against DynamoDB Local).
function stored(id) {
  return JSON.parse(execFileSync(linkDev, ["show-connection", id], { encoding: "utf8" }));
}

test("demo flow in Chromium", async (t) => {
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
  let connectionId;

  try {
    await t.test("sign in, connect, approve, land on success", async () => {
      await page.goto(demo);
      await page.fill("#user-id", "alice");
      await page.click("#sign-in");
      await page.waitForSelector("#connect:visible");
      await Promise.all([page.waitForURL(/\/cs_[0-9a-f]+$/), page.click("#connect")]);
      await Promise.all([page.waitForURL(`${demo}/link/success?**`), page.click("#approve")]);
      await loaded();
      const url = new URL(page.url());
      connectionId = url.searchParams.get("connection_id");
      assert.match(connectionId, /^conn_/);
      assert.equal(await page.textContent("#result"), `Connected: ${connectionId}`);
      const row = page.locator(`tr[data-id='${connectionId}']`);
      await row.waitFor();
      assert.equal(await row.getAttribute("data-status"), "active");
      await page.screenshot({ path: `${shots}/1-success.png`, fullPage: true });
      const rec = stored(connectionId);
      assert.equal(rec.userId, "alice");
      assert.equal(rec.status, "active");
      assert.equal(rec.connectionRecords, 1);
    });

    await t.test("cancel at 2fa lands on the cancelled page", async () => {
      await page.goto(demo);
      await loaded();
      await Promise.all([page.waitForURL(/\/cs_[0-9a-f]+$/), page.click("#connect")]);
      await page.selectOption("#cancel-step", "2fa");
      await Promise.all([page.waitForURL(`${demo}/link/cancelled?**`), page.click("#cancel")]);
      await loaded();
      assert.equal(await page.textContent("#result"), "Cancelled at step: 2fa");
      await page.screenshot({ path: `${shots}/2-cancelled.png`, fullPage: true });
      assert.equal(stored(connectionId).connectionRecords, 1, "nothing recorded");
    });

    await t.test("reconnect keeps the same connection, no duplicate", async () => {
      const row = page.locator(`tr[data-id='${connectionId}']`);
      await row.waitFor();
      await Promise.all([page.waitForURL(/\/cs_[0-9a-f]+$/), row.locator("button.reconnect").click()]);
      await Promise.all([page.waitForURL(`${demo}/link/success?**`), page.click("#approve")]);
      await loaded();
      assert.equal(new URL(page.url()).searchParams.get("connection_id"), connectionId);
      assert.equal(await page.locator("#connections tbody tr").count(), 1);
      await page.screenshot({ path: `${shots}/3-reconnected.png`, fullPage: true });
      const rec = stored(connectionId);
      assert.equal(rec.userId, "alice");
      assert.equal(rec.connectionRecords, 1);
    });

    await t.test("disconnect removes it", async () => {
      await page.locator(`tr[data-id='${connectionId}'] button.disconnect`).click();
      await page.waitForSelector("#no-connections:visible");
      await page.screenshot({ path: `${shots}/4-disconnected.png`, fullPage: true });
      assert.equal(stored(connectionId).status, "disconnected");
    });

    await t.test("no console errors on the demo page", () => {
      assert.deepEqual(consoleErrors, []);
    });
  } finally {
    await browser.close();
  }
});
