import { spawn } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { createDemoBackend } from './backend.js';

// `npm run demo`: the demo backend on 127.0.0.1:8000 and thumbtack in front of it on :7999,
// routed by config/routes. Ctrl-C stops both.
const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');
const backend = createDemoBackend().listen(8000, '127.0.0.1', () => {
  console.log('demo backend on http://127.0.0.1:8000');
  const thumbtack = spawn(
    process.execPath,
    [
      path.join(root, 'bin/thumbtack.js'),
      '--routes',
      path.join(root, 'config/routes'),
      ...process.argv.slice(2),
    ],
    { stdio: 'inherit' },
  );
  console.log(
    'thumbtack on http://localhost:7999 — try: curl -N http://localhost:7999/stream\n' +
      'then in another terminal: npx thumbtack publish test "hello"',
  );
  const stop = () => thumbtack.kill('SIGTERM');
  process.on('SIGINT', stop);
  process.on('SIGTERM', stop);
  thumbtack.on('exit', (code) => {
    backend.close();
    process.exit(code ?? 0);
  });
});
