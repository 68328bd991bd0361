import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Publisher } from '@fanoutio/grip';
import { createTodoApi } from './todo-api.js';

// `npm run example -- in-front-of-api`: the todo API on 127.0.0.1:3000 and thumbtack in
// front of it on :7999 (publish API on 127.0.0.1:5561). API_PORT, THUMBTACK_PORT and
// THUMBTACK_CONTROL_PORT move them; GRIP_URL says where the API publishes (by default
// thumbtack's publish API). Further arguments go to thumbtack. Ctrl-C stops both.
const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');
const apiPort = Number(process.env['API_PORT'] ?? 3000);
const port = Number(process.env['THUMBTACK_PORT'] ?? 7999);
const controlPort = Number(process.env['THUMBTACK_CONTROL_PORT'] ?? 5561);
const gripUrl = process.env['GRIP_URL'] ?? `http://127.0.0.1:${controlPort}`;

// The shipped routes file names the API at 127.0.0.1:3000; a copy follows API_PORT.
const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'thumbtack-example-'));
const routesFile = path.join(dir, 'routes');
const shipped = fs.readFileSync(path.join(root, 'examples/in-front-of-api/routes'), 'utf8');
fs.writeFileSync(routesFile, shipped.replaceAll('127.0.0.1:3000', `127.0.0.1:${apiPort}`));

const api = createTodoApi(new Publisher(gripUrl)).listen(apiPort, '127.0.0.1', () => {
  console.log(`todo API on http://127.0.0.1:${apiPort}, publishing to ${gripUrl}`);
  const thumbtack = spawn(
    process.execPath,
    [path.join(root, 'bin/thumbtack.js'), '--routes', routesFile, ...process.argv.slice(2)],
    { stdio: 'inherit' },
  );
  const stop = () => thumbtack.kill('SIGTERM');
  process.on('SIGINT', stop);
  process.on('SIGTERM', stop);
  thumbtack.on('exit', (code) => {
    api.close();
    fs.rmSync(dir, { recursive: true, force: true });
    process.exit(code ?? 0);
  });
  void whenReady(controlPort).then(() =>
    console.log(
      `ready: thumbtack on http://localhost:${port} in front of the todo API\n` +
        `  curl -N http://localhost:${port}/todos/events        # live feed (SSE)\n` +
        `  curl http://localhost:${port}/todos/changes?after=0  # long-poll\n` +
        `  curl -d '{"title":"buy milk"}' -H 'Content-Type: application/json' http://localhost:${port}/todos`,
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
