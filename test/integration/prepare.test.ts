import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { projectRoot } from '../support/thumbtack.js';

/*
 * `npm ci --omit=dev` runs the prepare script without TypeScript installed. It must pass
 * where dist/ was built already (a Docker image's production stage) and say what to do
 * where it was not. The script runs here in a directory with no node_modules at all.
 */

const dirs: string[] = [];
afterEach(() => {
  for (const dir of dirs.splice(0)) fs.rmSync(dir, { recursive: true, force: true });
});

function packageWithoutTypeScript(hasDist: boolean): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'thumbtack-prepare-'));
  dirs.push(dir);
  fs.mkdirSync(path.join(dir, 'scripts'));
  fs.copyFileSync(
    path.join(projectRoot, 'scripts/prepare.js'),
    path.join(dir, 'scripts/prepare.js'),
  );
  fs.writeFileSync(path.join(dir, 'package.json'), JSON.stringify({ type: 'module' }));
  if (hasDist) {
    fs.mkdirSync(path.join(dir, 'dist/src/cli'), { recursive: true });
    fs.writeFileSync(path.join(dir, 'dist/src/cli/main.js'), '');
  }
  return dir;
}

describe('prepare without dev dependencies (npm ci --omit=dev)', () => {
  it('passes when dist/ is built', () => {
    const run = spawnSync(process.execPath, ['scripts/prepare.js'], {
      cwd: packageWithoutTypeScript(true),
      encoding: 'utf8',
    });
    expect(run.status).toBe(0);
  });

  it('fails with what to do when dist/ is missing', () => {
    const run = spawnSync(process.execPath, ['scripts/prepare.js'], {
      cwd: packageWithoutTypeScript(false),
      encoding: 'utf8',
    });
    expect(run.status).toBe(1);
    expect(run.stderr).toMatch(/dist\/ is missing.*npm ci && npm run build/);
  });
});
