// The operator console in a real browser: Debian's Chromium driven by
// playwright-core against a gateway with the upstream simulator. An operator
// signs in from the keyboard, creates a tenant, issues and revokes keys,
// watches generations (one running, one succeeded, one failed) and reads
// usage; axe-core checks every section, and screenshots are saved
// (docs/screenshots/ with IMAGEGATE_UPDATE_SCREENSHOTS=1, else a temp dir).
//
// Without /usr/bin/chromium this file fails: a browser test that silently
// skips is a defect. IMAGEGATE_SKIP_BROWSER=1 skips it on purpose.
import { existsSync, readFileSync } from "node:fs";
import { mkdir, mkdtemp, rm } from "node:fs/promises";
import { createRequire } from "node:module";
import { tmpdir } from "node:os";
import { join } from "node:path";
import OpenAI from "openai";
import { type BrowserContext, chromium, type Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { apiError } from "../helpers/api-error.js";
import { adminToken, buildTestApp, type TestGateway } from "../helpers/gateway.js";

const chromiumPath = "/usr/bin/chromium";
const skip = process.env.IMAGEGATE_SKIP_BROWSER === "1";
const updateScreenshots = process.env.IMAGEGATE_UPDATE_SCREENSHOTS === "1";
const axeSource = readFileSync(
  createRequire(import.meta.url).resolve("axe-core/axe.min.js"),
  "utf8",
);

interface AxeViolation {
  id: string;
  impact: string | null;
  help: string;
  nodes: { target: string[] }[];
}

/** Runs axe-core in the page; serious and critical violations fail, the rest are reported. */
async function checkAccessibility(page: Page, section: string): Promise<AxeViolation[]> {
  // Evaluated over the DevTools protocol, which the page's CSP does not govern:
  // the console's own CSP stays on for the whole test.
  if (!(await page.evaluate("typeof window.axe !== 'undefined'"))) {
    await page.evaluate(`${axeSource}\n;undefined`);
  }
  const { violations, passes } = (await page.evaluate(`(async () => {
    const result = await window.axe.run(document);
    return {
      passes: result.passes.length,
      violations: result.violations.map((violation) => ({
        id: violation.id,
        impact: violation.impact,
        help: violation.help,
        nodes: violation.nodes.map((node) => ({ target: node.target })),
      })),
    };
  })()`)) as { violations: AxeViolation[]; passes: number };
  // The rules ran (color contrast, labels, landmarks, ARIA...), not an empty page.
  expect(passes, `axe rules passed on ${section}`).toBeGreaterThan(10);
  console.info(`axe (${section}): ${passes} rules passed, ${violations.length} violated`);
  const minor = violations.filter((v) => v.impact !== "serious" && v.impact !== "critical");
  if (minor.length > 0) {
    console.info(
      `axe (${section}): ${minor.map((v) => `${v.id} [${v.impact}] ${v.help}`).join("; ")}`,
    );
  }
  const blocking = violations.filter((v) => v.impact === "serious" || v.impact === "critical");
  expect(
    blocking.map((v) => `${v.id} [${v.impact}] ${v.help}: ${JSON.stringify(v.nodes)}`),
    `axe on ${section}`,
  ).toEqual([]);
  return violations;
}

// What runs in the page is written as source text: the tests are compiled
// without the DOM's types, which only the page has.

/** Presses Tab until `test` (an expression over the focused element `el`) holds, at most `max` times. */
async function tabTo(page: Page, test: string, max = 25): Promise<void> {
  for (let presses = 0; presses < max; presses++) {
    await page.keyboard.press("Tab");
    if (await page.evaluate(`((el) => ${test})(document.activeElement)`)) return;
  }
  throw new Error(`Tab did not reach the element (${test})`);
}

const focusedText = (page: Page) =>
  page.evaluate("document.activeElement?.textContent?.trim() ?? ''") as Promise<string>;
const blur = (page: Page) => page.evaluate("document.activeElement?.blur()");

describe.skipIf(skip)("the operator console in Chromium", () => {
  let gw: TestGateway;
  let context: BrowserContext;
  let page: Page;
  let userDataDir: string;
  let shots: string;
  let tenantKey = "";
  const requests: string[] = [];
  const pageErrors: string[] = [];
  const started = Date.now();

  const screenshot = async (name: string) => {
    // From the top: a sticky header would otherwise sit mid-page in a full-page shot.
    await page.evaluate("window.scrollTo(0, 0)");
    await page.screenshot({ path: join(shots, `console-${name}.png`), fullPage: true });
  };
  const section = (name: string) => page.getByRole("navigation").getByRole("button", { name });

  beforeAll(async () => {
    if (!existsSync(chromiumPath)) {
      throw new Error(
        `No Chromium at ${chromiumPath}: install Debian's package (apt-get install chromium), ` +
          "or set IMAGEGATE_SKIP_BROWSER=1 to skip the browser test on purpose.",
      );
    }
    shots = updateScreenshots
      ? join(process.cwd(), "docs", "screenshots")
      : await mkdtemp(join(tmpdir(), "imagegate-screenshots-"));
    await mkdir(shots, { recursive: true });
    gw = await buildTestApp();
    userDataDir = await mkdtemp(join(tmpdir(), "imagegate-chromium-"));
    context = await chromium.launchPersistentContext(userDataDir, {
      executablePath: chromiumPath,
      headless: true,
      args: [
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-background-networking",
        "--disable-quic",
        "--no-first-run",
        "--disable-component-update",
        "--disable-sync",
      ],
      viewport: { width: 1280, height: 800 },
      colorScheme: "light",
      reducedMotion: "reduce",
    });
    page = context.pages()[0] ?? (await context.newPage());
    page.on("request", (request) => requests.push(request.url()));
    page.on("pageerror", (err) => pageErrors.push(err.message));
    page.on("console", (message) => {
      if (message.type() === "error") pageErrors.push(message.text());
    });
  }, 60_000);

  afterAll(async () => {
    await context?.close();
    await gw?.close();
    if (userDataDir) await rm(userDataDir, { recursive: true, force: true });
    if (shots && !updateScreenshots) await rm(shots, { recursive: true, force: true });
    console.info(`browser test: ${((Date.now() - started) / 1000).toFixed(1)} s`);
  });

  it("signs in from the keyboard, refusing a wrong token, and keeps the token out of storage and the URL", async () => {
    await page.goto(`${gw.url}/console`);
    const tokenInput = page.getByLabel("Admin token");
    await tokenInput.waitFor();
    await checkAccessibility(page, "sign-in");
    await screenshot("sign-in");

    // From nothing focused, Tab reaches the labelled input, then the button.
    await blur(page);
    await tabTo(page, "el.id === 'admin-token'");
    await page.keyboard.type("not-the-admin-token-at-all");
    await page.keyboard.press("Tab");
    await expect.poll(() => focusedText(page)).toBe("Sign in");
    await page.keyboard.press("Enter");
    await page.getByText("That admin token was not accepted.").waitFor();
    expect(await page.getByText(/Signed out/).count()).toBe(0);

    await tokenInput.fill(adminToken);
    await tokenInput.press("Enter");
    await page.getByRole("heading", { name: "Health", level: 2 }).waitFor();

    const stored = (await page.evaluate(`({
      local: localStorage.length,
      session: sessionStorage.length,
      cookie: document.cookie,
      url: location.href,
      html: document.documentElement.outerHTML,
    })`)) as { local: number; session: number; cookie: string; url: string; html: string };
    expect(stored).toMatchObject({ local: 0, session: 0, cookie: "" });
    expect(stored.url).toBe(`${gw.url}/console`);
    expect(stored.html).not.toContain(adminToken);
  }, 30_000);

  it("moves between sections with Enter and Space", async () => {
    await blur(page);
    await tabTo(page, "el.tagName === 'BUTTON' && el.textContent.trim() === 'Tenants'");
    await page.keyboard.press("Enter");
    await page.getByRole("heading", { name: "Tenants", level: 2 }).waitFor();
    expect(await section("Tenants").getAttribute("aria-current")).toBe("page");
    // Focus went to the section's heading; Shift+Tab walks back to the navigation.
    await expect.poll(() => focusedText(page)).toBe("Tenants");
    await section("Usage").focus();
    await page.keyboard.press(" ");
    await page.getByRole("heading", { name: "Usage", level: 2 }).waitFor();
    expect(await section("Usage").getAttribute("aria-current")).toBe("page");
    expect(await section("Tenants").getAttribute("aria-current")).toBeNull();
  }, 30_000);

  it("creates a tenant, shows its key once, issues another and revokes it", async () => {
    await section("Tenants").click();
    await page.getByRole("button", { name: "New tenant" }).click();
    const form = page.locator("#new-tenant");
    await form.getByLabel("Name").fill("acme-console");
    await form.getByLabel("Requests per minute").fill("120");
    await form.getByLabel("Tasks at once").fill("4");
    await form.getByLabel("Images per UTC day").fill("500");
    await checkAccessibility(page, "tenants, create form");
    await form.getByRole("button", { name: "Create tenant" }).click();

    const keyBox = page.getByRole("region", { name: /New API key for acme-console/ });
    await keyBox.waitFor();
    tenantKey = await page.locator("#new-key-value").inputValue();
    expect(tenantKey).toMatch(/^ig_[A-Za-z0-9_-]{43}$/);
    await keyBox.getByText("it is shown this once").waitFor();
    const row = page.getByRole("row", { name: /acme-console/ });
    // The list reloads after the create: waited for, not read at once.
    await row.getByText("120").waitFor();
    await page.locator("#tenant-detail-title", { hasText: "acme-console" }).waitFor();
    await page.getByRole("button", { name: "Done, I saved it" }).click();
    await keyBox.waitFor({ state: "detached" });

    // A second key, named; shown once, then revoked after a confirmation.
    await page.getByLabel("Key name (optional)").fill("ci");
    await page.getByRole("button", { name: "Issue key" }).click();
    await keyBox.waitFor();
    const second = await page.locator("#new-key-value").inputValue();
    expect(second).toMatch(/^ig_/);
    expect(second).not.toBe(tenantKey);
    const keys = page.getByRole("table", { name: "API keys of acme-console" });
    await keys.getByRole("row", { name: /ci/ }).waitFor();
    await checkAccessibility(page, "tenants, new key shown");
    await screenshot("tenants");

    const hint = `${second.slice(0, 7)}…`;
    await keys.getByRole("button", { name: `Revoke key ${hint}` }).click();
    const confirm = page.getByRole("button", { name: `Revoke ${hint}`, exact: true });
    await expect.poll(() => focusedText(page)).toBe(`Revoke ${hint}`);
    await confirm.click();
    await keys.getByRole("row", { name: /ci/ }).getByText("Revoked").waitFor();
    // The gateway agrees: the revoked key is refused, the first one works.
    const refused = await apiError(
      gw.clientWith(second).images.generate({ model: "nano-banana", prompt: "a kite" }),
    );
    expect(refused).toBeInstanceOf(OpenAI.AuthenticationError);
    // The key box was dismissed: no key is left in the page.
    await page.getByRole("button", { name: "Done, I saved it" }).click();
    expect(await page.content()).not.toContain(second);

    // Edit limits, then disable and enable again.
    const edit = page.locator(".tenant-detail form.tenant-form");
    await edit.getByLabel("Requests per minute").fill("");
    await edit.getByRole("button", { name: "Save changes" }).click();
    await page.getByText("changes saved").waitFor();
    await row.getByText("no limit").first().waitFor();
    await page.getByRole("button", { name: "Disable tenant" }).click();
    await row.getByText("Disabled").waitFor();
    await page.getByRole("button", { name: "Enable tenant" }).click();
    await row.getByText("Active").waitFor();
  }, 45_000);

  it("shows generations live: running with progress, succeeded, and failed with the error", async () => {
    const client = gw.clientWith(tenantKey);
    await client.images.generate({ model: "nano-banana", prompt: "a lighthouse at dawn" });
    const failed = await apiError(
      client.images.generate({ model: "nano-banana", prompt: "[sim:fail=the prompt was refused]" }),
    );
    expect(failed.status).toBeGreaterThanOrEqual(400);
    // A slow one through the async API: it stays running while the page looks.
    const submitted = await fetch(`${gw.url}/v1/images/generations/async`, {
      method: "POST",
      headers: { authorization: `Bearer ${tenantKey}`, "content-type": "application/json" },
      body: JSON.stringify({
        model: "gpt-image-2",
        prompt: "[sim:duration=120000] a slow harbour",
      }),
    });
    expect(submitted.status).toBe(200);

    await section("Generations").click();
    await page.locator('tr[data-state="succeeded"]').waitFor();
    const failedRow = page.locator("tr[data-state='failed'], tr[data-state='error']").first();
    await failedRow.waitFor();
    await expect.poll(() => failedRow.textContent()).toContain("the prompt was refused");
    const running = page.locator('tr[data-state="running"]');
    await running.waitFor();
    await running.locator("progress").waitFor();
    // The live list moves on its own: progress climbs without a click.
    const first = await running.locator("progress").getAttribute("value");
    // (Polled from here: the page's CSP refuses the eval a string predicate needs.)
    await expect
      .poll(() => running.locator("progress").getAttribute("value"), { timeout: 10_000 })
      .not.toBe(first);
    await page.getByText(/Live · updated/).waitFor();

    // Filtered by state.
    await page.getByLabel("State").selectOption("succeeded");
    await page.locator('tr[data-state="succeeded"]').first().waitFor();
    await expect
      .poll(() => page.locator('tr[data-state]:not([data-state="succeeded"])').count())
      .toBe(0);
    await page.getByLabel("State").selectOption("");
    await page.locator('tr[data-state="running"]').waitFor();
    await checkAccessibility(page, "generations");
    await screenshot("generations");

    // Past a page (50): the older ones come with "Load older generations".
    for (let batch = 0; batch < 5; batch++) {
      await Promise.all(
        Array.from({ length: 10 }, () =>
          gw.client.images.generate({ model: "nano-banana", prompt: "one of many" }),
        ),
      );
    }
    const rows = page.locator("tr[data-generation]");
    await expect.poll(() => rows.count(), { timeout: 10_000 }).toBe(50);
    const older = page.getByRole("button", { name: "Load older generations" });
    await older.click();
    await expect.poll(() => rows.count()).toBe(53);
    await older.waitFor({ state: "detached" });
    // The first generation of all is at the bottom, after the page boundary.
    await expect(rows.last().getAttribute("data-state")).resolves.toBe("succeeded");
  }, 45_000);

  it("shows usage per day and model as a chart and a table", async () => {
    await section("Usage").click();
    const option = page.locator("#usage-tenant option", { hasText: "acme-console" });
    await page
      .getByLabel("Tenant", { exact: true })
      .selectOption((await option.getAttribute("value")) as string);
    await page.getByRole("button", { name: "Show usage" }).click();
    const chart = page.getByRole("img", { name: /Stacked bar chart of images delivered/ });
    await chart.waitFor();
    const table = page.getByRole("table", { name: /Usage by day and model/ });
    // Today's rows: the succeeded generation and the failed one, under their upstream model.
    const today = new Date().toISOString().slice(0, 10);
    await table
      .getByRole("row", { name: new RegExp(today) })
      .first()
      .waitFor();
    const totals = await table.locator("tfoot").textContent();
    expect(totals).toMatch(/^Total/);
    await checkAccessibility(page, "usage");
    await screenshot("usage");
  }, 30_000);

  it("shows health: channels with their breakers, tasks in flight and charts", async () => {
    await section("Health").click();
    const card = page.locator(".channel-card", { hasText: "ch_default" });
    await card.getByText("Breaker closed").waitFor();
    await page.getByRole("img", { name: /tasks in flight over this session/ }).waitFor();
    await page.getByRole("img", { name: /generations started per minute/ }).waitFor();
    // The slow generation is in flight.
    const inFlight = page.locator(".stat", { hasText: "Tasks in flight" }).locator(".stat-value");
    await expect.poll(() => inFlight.textContent(), { timeout: 10_000 }).toBe("1");
    await page.getByText("Show the data as a table").first().click();
    await checkAccessibility(page, "health");
    await page.getByText("Show the data as a table").first().click();
    await screenshot("health");
  }, 30_000);

  it("returns to sign-in when the gateway refuses the token, and signs out", async () => {
    // The token changed under the console: the next poll is a 401.
    await page.route("**/admin/**", (route) =>
      route.fulfill({
        status: 401,
        contentType: "application/json",
        body: JSON.stringify({
          error: {
            message: "Incorrect admin token.",
            type: "invalid_request_error",
            param: null,
            code: "invalid_api_key",
          },
        }),
      }),
    );
    await page.getByRole("button", { name: "Refresh now" }).click();
    await page.getByText(/the gateway refused the admin token/).waitFor();
    await page.unroute("**/admin/**");
    await page.getByLabel("Admin token").fill(adminToken);
    await page.getByRole("button", { name: "Sign in" }).click();
    await page.getByRole("button", { name: "Sign out" }).click();
    await page.getByText("Signed out. The token is forgotten.").waitFor();
    // Signed out, the console makes no more calls.
    const before = requests.length;
    await page.waitForTimeout(5_500);
    expect(requests.slice(before).filter((url) => url.includes("/admin/"))).toEqual([]);
  }, 30_000);

  it("talked to its own origin only, through /console and /admin, without errors", () => {
    const foreign = requests.filter((url) => {
      const parsed = new URL(url);
      return (
        parsed.origin !== gw.url ||
        !(parsed.pathname.startsWith("/console") || parsed.pathname.startsWith("/admin/"))
      );
    });
    expect(foreign).toEqual([]);
    // The 401s the test itself forced are the only errors the page logged.
    expect(pageErrors.filter((text) => !text.includes("401"))).toEqual([]);
  });
});
