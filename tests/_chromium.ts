/**
 * Headless Chromium for browser tests (Debian's `chromium`, driven by `playwright-core`).
 *
 * Needs `/usr/bin/chromium`: `apt-get install chromium` (`.ci/run` installs it).
 *
 * @module
 */

import { type Browser, chromium } from "playwright-core";

const CHROMIUM = "/usr/bin/chromium";
/** Without the background-networking flags Chromium keeps dialling out to a closed network. */
const CHROMIUM_ARGS = [
  "--headless",
  "--no-sandbox",
  "--disable-gpu",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
  "--no-first-run",
];

/** Launch headless Chromium; fails with the install command when it is missing. */
export async function launchChromium(): Promise<Browser> {
  try {
    await Deno.stat(CHROMIUM);
  } catch (error) {
    throw new Error(
      `Chromium is missing at ${CHROMIUM}: install it with "apt-get install chromium"`,
      { cause: error },
    );
  }
  return await chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS, timeout: 10_000 });
}
