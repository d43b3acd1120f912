// Playwright drives Debian's chromium (it cannot download a browser build of
// its own here): IEV_CHROMIUM names the executable, /usr/bin/chromium by default.
// tests/console/run.sh starts the runner and sets IEV_CONSOLE_URL and IEV_ADMIN_KEY.
const { defineConfig } = require('@playwright/test');

module.exports = defineConfig({
  testDir: '.',
  testMatch: /.*\.spec\.js/,
  globalSetup: require.resolve('./seed.js'),
  fullyParallel: false,
  workers: 1,
  retries: 0,
  timeout: 30_000,
  expect: { timeout: 5_000 },
  outputDir: 'artifacts/results',
  reporter: [['list']],
  use: {
    baseURL: process.env.IEV_CONSOLE_URL || 'http://127.0.0.1:8080',
    headless: true,
    viewport: { width: 1280, height: 800 },
    acceptDownloads: true,
    trace: 'off',
    screenshot: 'only-on-failure',
    launchOptions: {
      executablePath: process.env.IEV_CHROMIUM || '/usr/bin/chromium',
      args: ['--no-sandbox', '--disable-dev-shm-usage'],
    },
  },
});
