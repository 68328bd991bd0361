import { createDemoBackend } from './backend.js';

// The demo backend alone, for containers (examples/deploy): DEMO_HOST and DEMO_PORT say
// where it listens (127.0.0.1:8000 by default, as under `npm run demo`).
const host = process.env['DEMO_HOST'] ?? '127.0.0.1';
const port = Number(process.env['DEMO_PORT'] ?? 8000);
const server = createDemoBackend().listen(port, host, () => {
  console.log(`demo backend on http://${host}:${port}`);
});
process.on('SIGTERM', () => server.close(() => process.exit(0)));
