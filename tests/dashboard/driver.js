// Drives the dashboard in headless Chromium for tests/tests/dashboard.rs.
//
//   node driver.js URL SCREENSHOT_DIR NODE_ADDRS_COMMA_SEPARATED DOWN_ADDR KEY OLD_VALUE
//   node driver.js token URL SCREENSHOT_DIR SECRET KEY
//   node driver.js migrate URL SCREENSHOT_DIR TARGET_ADDR
//
// It talks to the Rust test over stdio: it prints `STEP kill` once the page shows every node
// up, and waits for a line on stdin (the test has killed DOWN_ADDR's node) before it looks for
// the node marked down and the NodeDown alert. Then it rolls KEY back from the UI to the
// revision whose value is OLD_VALUE, and reloads the page to see the charts drawn from the
// node's history. The `token` form checks a node with admin tokens: the page says a token is
// needed, and shows KEY once SECRET is typed in. The `migrate` form follows a rebalance onto
// TARGET_ADDR: nothing moves at first; it prints `STEP rebalance` and waits (the test starts a
// rebalance and pauses it part way), expects a partly filled progress bar, prints `STEP
// resume` and waits again (the test lets the rebalance go on), then expects it finished. It
// prints `DONE` and exits with 0 when every check passed. At each step that shows something
// new (topology, a node down, the confirmation dialog, versions, the token request, a move
// under way), axe-core checks the page against WCAG 2.1 AA.
"use strict";

const fs = require("fs");
const os = require("os");
const path = require("path");
const readline = require("readline");
const { chromium } = require("playwright-core");

const STEP_MS = 60_000;
// axe-core's WCAG 2.1 A and AA rules plus its best practices: any violation fails the test.
const AXE_SCRIPT = require.resolve("axe-core/axe.min.js");
const AXE_TAGS = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "best-practice"];

const lines = readline.createInterface({ input: process.stdin });
const nextLine = () => new Promise((resolve) => lines.once("line", resolve));

function log(msg) {
  process.stderr.write("[driver] " + msg + "\n");
}

// Runs `scenario(page, problems)` in a fresh headless Chromium; a failure leaves failure.png.
async function withPage(shots, scenario) {
  fs.mkdirSync(shots, { recursive: true });
  const profile = fs.mkdtempSync(path.join(os.tmpdir(), "ferrocache-chromium-"));
  // A fresh profile directory: Playwright passes it to Chromium as --user-data-dir.
  const browser = await chromium.launchPersistentContext(profile, {
    executablePath: "/usr/bin/chromium",
    headless: true,
    viewport: { width: 1440, height: 900 },
    args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
      "--disable-component-update", "--disable-sync"],
  });
  const page = browser.pages()[0] || (await browser.newPage());
  page.setDefaultTimeout(STEP_MS);
  const problems = [];
  page.on("pageerror", (e) => problems.push("page error: " + e.message));
  page.on("console", (m) => { if (m.type() === "error") log("console: " + m.text()); });
  try {
    await scenario(page, problems);
    if (problems.length) throw new Error(problems.join("; "));
    process.stdout.write("DONE\n");
  } catch (e) {
    await page.screenshot({ path: path.join(shots, "failure.png"), fullPage: true }).catch(() => {});
    throw e;
  } finally {
    await browser.close();
    fs.rmSync(profile, { recursive: true, force: true });
  }
}

// Runs axe-core on the page as it is now; writes its report to SHOTS/axe-NAME.json and
// throws, listing each rule broken and where, unless nothing is.
async function checkAccessibility(page, shots, name) {
  if (!(await page.evaluate(() => typeof window.axe === "object"))) await page.addScriptTag({ path: AXE_SCRIPT });
  const report = await page.evaluate(async (tags) => {
    const r = await window.axe.run(document, { runOnly: { type: "tag", values: tags }, resultTypes: ["violations"] });
    return {
      rules_passed: r.passes.length,
      violations: r.violations.map((v) => ({ id: v.id, impact: v.impact, help: v.help, where: v.nodes.slice(0, 5).map((n) => n.target.join(" ")) })),
    };
  }, AXE_TAGS);
  fs.writeFileSync(path.join(shots, "axe-" + name + ".json"), JSON.stringify(report, null, 2));
  if (report.violations.length) {
    throw new Error("axe-core (" + name + "): " + report.violations.map((v) => `${v.id} [${v.impact}] ${v.help} at ${v.where.join(" | ")}`).join("; "));
  }
  log("axe-core (" + name + "): no violation, " + report.rules_passed + " rules passed");
}

// With admin tokens: the page loads, says a token is needed, and works once one is given.
async function tokenScenario(url, shots, secret, key) {
  await withPage(shots, async (page) => {
    // A 401 on a page load is expected here: the page asks for the token.
    await page.goto(url);
    await page.waitForFunction(() => !document.getElementById("error").hidden
      && document.getElementById("error").textContent.includes("requires an admin token (401)"));
    await page.screenshot({ path: path.join(shots, "6-token-needed.png") });
    await checkAccessibility(page, shots, "token-needed");
    await page.getByLabel("Admin token").fill(secret);
    await page.getByRole("button", { name: "Use token" }).click();
    await page.waitForFunction(() => document.getElementById("error").hidden);
    await page.waitForFunction(() => document.getElementById("live").textContent.startsWith("live"));
    await page.locator(`button[data-key="${key}"]`).waitFor();
    const kept = await page.evaluate(() => sessionStorage.getItem("ferrocache.token"));
    if (kept !== secret) throw new Error("the token is not in sessionStorage");
    await page.screenshot({ path: path.join(shots, "7-token-accepted.png") });
  });
}

async function clusterScenario(url, shots, addrList, downAddr, key, oldValue) {
  const addrs = addrList.split(",");
  await withPage(shots, async (page) => {
    await page.goto(url);
    await page.getByRole("heading", { name: "Topology" }).waitFor();

    log("waiting for " + addrs.length + " nodes up");
    await page.waitForFunction((want) => {
      const rows = [...document.querySelectorAll("#nodes tbody tr")];
      return want.every((a) => rows.some((r) => r.dataset.addr === a && r.querySelector(".health").textContent === "up"));
    }, addrs);
    const shards = await page.locator("#shards tbody tr").count();
    if (shards !== addrs.length) throw new Error("expected " + addrs.length + " shards, saw " + shards);
    const charts = await page.locator("figure.chart").count();
    if (charts !== 5) throw new Error("expected 5 charts, saw " + charts);
    await page.screenshot({ path: path.join(shots, "1-topology.png"), fullPage: true });
    await checkAccessibility(page, shots, "topology");

    process.stdout.write("STEP kill\n");
    await nextLine();
    log("waiting for " + downAddr + " down and NodeDown");
    await page.waitForFunction((addr) => {
      const row = document.querySelector(`#nodes tbody tr[data-addr="${addr}"]`);
      return row && row.querySelector(".health").textContent === "down";
    }, downAddr);
    await page.waitForFunction((addr) => [...document.querySelectorAll("#alert-table tbody tr")]
      .some((r) => r.dataset.rule === "NodeDown" && r.textContent.includes(addr)), downAddr);
    await page.locator("#alerts").scrollIntoViewIfNeeded();
    await page.screenshot({ path: path.join(shots, "2-node-down.png"), fullPage: true });
    await checkAccessibility(page, shots, "node-down");

    log("rolling " + key + " back");
    await page.getByLabel("Key prefix").fill(key);
    await page.getByRole("button", { name: "List keys" }).click();
    await page.locator(`button[data-key="${key}"]`).click();
    const oldRow = page.locator("#versions tbody tr").filter({ has: page.locator("td.value", { hasText: oldValue }) }).first();
    const before = Number(await page.locator("#versions tbody tr").first().getAttribute("data-revision"));
    await oldRow.getByRole("button", { name: /Roll back/ }).click();
    const dialog = page.getByRole("dialog");
    await dialog.waitFor();
    await page.screenshot({ path: path.join(shots, "3-confirm.png") });
    await checkAccessibility(page, shots, "confirm-dialog");
    // Keyboard: the dialog opens on Cancel; Tab moves to the confirm button.
    await page.keyboard.press("Tab");
    const focused = await page.evaluate(() => document.activeElement && document.activeElement.id);
    if (focused !== "confirm-ok") throw new Error("Tab in the dialog focused " + focused);
    await page.keyboard.press("Enter");
    await page.waitForFunction(() => /new revision \d+/.test(document.getElementById("config-status").textContent));
    await page.waitForFunction((b) => Number(document.querySelector("#versions tbody tr").dataset.revision) > b, before);
    const top = await page.locator("#versions tbody tr").first().locator("td.value").textContent();
    if (top !== oldValue) throw new Error("after the rollback the latest value is " + JSON.stringify(top));
    await page.locator("#config").scrollIntoViewIfNeeded();
    await page.screenshot({ path: path.join(shots, "4-rolled-back.png"), fullPage: true });
    await checkAccessibility(page, shots, "config-versions");

    // The charts' hour is kept by the node: after a reload they are drawn from it at once.
    await page.reload();
    await page.waitForFunction(() => document.querySelectorAll('figure.chart[data-metric="memory"] circle').length > 0);
    // Each chart says in words what its curve shows.
    const said = await page.locator('figure.chart[data-metric="memory"] svg title').textContent();
    if (!/^Used memory over the last hour \(cluster\): latest .+, lowest .+, highest .+, \d+ points$/.test(said)) {
      throw new Error("the memory chart's text alternative is " + JSON.stringify(said));
    }
    await page.locator("#charts").scrollIntoViewIfNeeded();
    await page.screenshot({ path: path.join(shots, "5-charts-after-reload.png") });
  });
}

// The migrations panel through a rebalance that the test pauses part way.
async function migrateScenario(url, shots, target) {
  await withPage(shots, async (page) => {
    await page.goto(url);
    await page.getByRole("heading", { name: "Migrations" }).waitFor();
    await page.waitForFunction(() => document.getElementById("live").textContent.startsWith("live"));
    if (await page.locator("#migration-table").isVisible()) throw new Error("slots are moving before the rebalance");
    await page.locator("#no-migrations").waitFor();

    process.stdout.write("STEP rebalance\n");
    await nextLine();
    log("waiting for a part-done move onto " + target);
    // One row per source, each with its bar; the rebalance is paused once the target owns a
    // slot, so at least one bar is partly filled and the whole is not done.
    await page.waitForFunction((t) => [...document.querySelectorAll(`#migration-table tbody tr[data-to="${t}"] progress`)]
      .some((p) => Number(p.value) > 0 && Number(p.value) < Number(p.max)), target);
    const rows = await page.locator(`#migration-table tbody tr[data-to="${target}"]`).count();
    if (rows !== 2) throw new Error("expected a row from each of the 2 sources, saw " + rows);
    const summary = await page.locator("#rebalance-summary").textContent();
    const [, moved, slots] = (summary.match(/^Rebalance started .*: (\d+) of (\d+) slots moved/) || []).map(Number);
    if (!(moved > 0 && moved < slots)) throw new Error("the summary says " + JSON.stringify(summary));
    log("paused at " + moved + " of " + slots + " slots");
    await page.locator("#migrations").scrollIntoViewIfNeeded();
    await page.screenshot({ path: path.join(shots, "8-rebalance-part-done.png") });
    await checkAccessibility(page, shots, "migrations");

    process.stdout.write("STEP resume\n");
    await nextLine();
    await page.waitForFunction(() => document.getElementById("rebalance-summary").textContent.endsWith(", finished."));
    await page.locator("#no-migrations").waitFor();
    if (await page.locator("#migration-table").isVisible()) throw new Error("a finished rebalance still lists moves");
    const owned = await page.locator(`#nodes tbody tr[data-addr="${target}"] td`).nth(3).textContent();
    if (!/^\d/.test(owned.trim())) throw new Error(target + " shows no slot ranges: " + JSON.stringify(owned));
    await page.screenshot({ path: path.join(shots, "9-rebalance-finished.png") });
  });
}

function main() {
  const args = process.argv.slice(2);
  if (args[0] === "token") return tokenScenario(...args.slice(1));
  if (args[0] === "migrate") return migrateScenario(...args.slice(1));
  return clusterScenario(...args);
}

main().then(
  () => process.exit(0),
  (e) => {
    process.stderr.write("[driver] FAILED: " + (e && e.stack ? e.stack : e) + "\n");
    process.exit(1);
  },
);
