// `npm run example -- NAME [args]`: runs examples/NAME/main.ts as built into dist/ (npm runs
// the build first), passing the remaining arguments on.
import fs from 'node:fs';
import path from 'node:path';
import process from 'node:process';
import { fileURLToPath, pathToFileURL } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const [name, ...rest] = process.argv.slice(2);
const names = fs
  .readdirSync(path.join(root, 'dist/examples'))
  .filter((entry) => fs.existsSync(path.join(root, 'dist/examples', entry, 'main.js')));
if (!name || !names.includes(name)) {
  process.stderr.write(
    `usage: npm run example -- NAME, where NAME is one of: ${names.sort().join(', ')}\n`,
  );
  process.exit(2);
}
process.argv = [process.argv[0], process.argv[1], ...rest];
await import(pathToFileURL(path.join(root, 'dist/examples', name, 'main.js')).href);
