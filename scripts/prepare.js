// npm runs "prepare" after `npm ci`. With dev dependencies it builds dist/ (so that
// `npx thumbtack` works in a fresh clone). `npm ci --omit=dev` has no TypeScript: the
// install then works only where dist/ was built already (a Docker image's build stage).
import { execSync } from 'node:child_process';
import fs from 'node:fs';
import process from 'node:process';
import { createRequire } from 'node:module';

let hasTypeScript = true;
try {
  createRequire(import.meta.url).resolve('typescript');
} catch {
  hasTypeScript = false;
}
if (hasTypeScript) {
  execSync('npm run build', { stdio: 'inherit' });
} else if (!fs.existsSync('dist/src/cli/main.js')) {
  process.stderr.write(
    'thumbtack: dist/ is missing and TypeScript is not installed (npm ci --omit=dev): build first with `npm ci && npm run build`, then install for production\n',
  );
  process.exit(1);
}
