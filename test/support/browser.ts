import fs from 'node:fs';
import { chromium, type Browser } from 'playwright-core';

/** Debian's Chromium (the `chromium` package); playwright-core downloads no browser. */
const chromiumPath = '/usr/bin/chromium';

export async function launchChromium(): Promise<Browser> {
  if (!fs.existsSync(chromiumPath)) {
    throw new Error(
      'chromium is not installed: install it (Debian: apt-get install -y chromium) to run the browser tests',
    );
  }
  return chromium.launch({
    executablePath: chromiumPath,
    // Containers often run as root, where Chromium's sandbox cannot start.
    args: ['--no-sandbox', '--disable-dev-shm-usage'],
  });
}
