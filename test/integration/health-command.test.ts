import { spawn } from 'node:child_process';
import { afterEach, describe, expect, it } from 'vitest';
import { startBackend, stopAllBackends } from '../support/backend.js';
import { startThumbtack, stopAllThumbtacks, thumbtackBin } from '../support/thumbtack.js';

afterEach(async () => {
  await stopAllThumbtacks();
  await stopAllBackends();
});

function runHealth(
  args: string[],
  env: NodeJS.ProcessEnv = {},
): Promise<{ code: number | null; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [thumbtackBin, 'health', ...args], {
      env: { ...process.env, ...env },
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    let stderr = '';
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    child.once('exit', (code) => resolve({ code, stderr }));
  });
}

describe('thumbtack health (the image health check)', () => {
  it('exits 0 while thumbtack serves on the configured ports, 1 once it is gone', async () => {
    const backend = await startBackend((_req, res) => res.end('ok\n'));
    const tt = await startThumbtack({ routes: `* ${backend.target}\n` });
    // Ports from the environment, as in the image; flags work as well.
    const env = { THUMBTACK_PORT: String(tt.port), THUMBTACK_CONTROL_PORT: String(tt.controlPort) };
    expect(await runHealth([], env)).toMatchObject({ code: 0 });
    expect(
      await runHealth(['--port', String(tt.port), '--control-port', String(tt.controlPort)]),
    ).toMatchObject({
      code: 0,
    });
    await tt.stop();
    const down = await runHealth([], env);
    expect(down.code).toBe(1);
    expect(down.stderr).toMatch(/^thumbtack health: /);
  });

  it('exits 2 on a bad setting, naming it', async () => {
    const result = await runHealth(['--control-port', 'x']);
    expect(result.code).toBe(2);
    expect(result.stderr).toMatch(/control-port/);
  });
});
