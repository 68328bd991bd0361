import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { createBackend } from './backend.js';

// `npm run example -- publish-from-backend`: a backend with /sse, /poll and /ws on
// 127.0.0.1:8000 and thumbtack in front of it on :7999 (publish API on 127.0.0.1:5561).
// BACKEND_PORT, THUMBTACK_PORT and THUMBTACK_CONTROL_PORT move them; further arguments go
// to thumbtack. Ctrl-C stops both. Publish from another terminal: see README.md.
const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');
const backendPort = Number(process.env['BACKEND_PORT'] ?? 8000);
const port = Number(process.env['THUMBTACK_PORT'] ?? 7999);
const controlPort = Number(process.env['THUMBTACK_CONTROL_PORT'] ?? 5561);

// The shipped routes file names the backend at 127.0.0.1:8000; a copy follows BACKEND_PORT.
const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'thumbtack-example-'));
const routesFile = path.join(dir, 'routes');
const shipped = fs.readFileSync(path.join(root, 'examples/publish-from-backend/routes'), 'utf8');
fs.writeFileSync(routesFile, shipped.replaceAll('127.0.0.1:8000', `127.0.0.1:${backendPort}`));

const backend = createBackend().listen(backendPort, '127.0.0.1', () => {
  console.log(`backend on http://127.0.0.1:${backendPort}`);
  const thumbtack = spawn(
    process.execPath,
    [path.join(root, 'bin/thumbtack.js'), '--routes', routesFile, ...process.argv.slice(2)],
    { stdio: 'inherit' },
  );
  const stop = () => thumbtack.kill('SIGTERM');
  process.on('SIGINT', stop);
  process.on('SIGTERM', stop);
  thumbtack.on('exit', (code) => {
    backend.close();
    fs.rmSync(dir, { recursive: true, force: true });
    process.exit(code ?? 0);
  });
  void whenReady(controlPort).then(() =>
    console.log(
      `ready: thumbtack on http://localhost:${port}, publish API on http://127.0.0.1:${controlPort}\n` +
        `  curl -N http://localhost:${port}/sse   # SSE client\n` +
        `  curl http://localhost:${port}/poll     # long-poll client\n` +
        `  ws://localhost:${port}/ws             # WebSocket client\n` +
        'then publish to "news" in one of the four ways in examples/publish-from-backend/README.md',
    ),
  );
});

/** Resolves once thumbtack's /readyz answers 200: its handler and a proxy worker are up. */
async function whenReady(controlPort: number): Promise<void> {
  for (;;) {
    try {
      const res = await fetch(`http://127.0.0.1:${controlPort}/readyz`);
      if (res.ok) return;
    } catch {
      // not listening yet
    }
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}
