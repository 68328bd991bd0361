import { describe, expect, it } from 'vitest';
import { loadSettings } from '../../../src/config/load.js';
import { describeChanges, reloadSettings } from '../../../src/config/reload.js';

const settingsOf = (argv: string[]) => loadSettings(argv, {}).settings;

describe('reloadSettings', () => {
  it('applies changed settings and keeps restart-only ones at their old values', () => {
    const current = settingsOf(['--port', '7000', '--backend-timeout', '30']);
    const next = settingsOf(['--port', '7001', '--backend-timeout', '5', '--control-token', 's']);
    const change = reloadSettings(current, next);
    expect(change.applied.sort()).toEqual(['backendTimeout', 'controlToken']);
    expect(change.needsRestart).toEqual(['port']);
    expect(change.settings.port).toBe(7000);
    expect(change.settings.backendTimeout).toBe(5);
  });

  it('sees no change when nothing changed, lists included', () => {
    const argv = ['--trusted-proxies', '10.0.0.1,10.0.0.2'];
    expect(reloadSettings(settingsOf(argv), settingsOf(argv))).toMatchObject({
      applied: [],
      needsRestart: [],
    });
    const change = reloadSettings(settingsOf(argv), settingsOf(['--trusted-proxies', '10.0.0.1']));
    expect(change.applied).toEqual(['trustedProxies']);
  });

  it('names secrets without their values', () => {
    const settings = settingsOf(['--control-token', 'hunter2', '--log-level', 'debug']);
    expect(describeChanges(['controlToken', 'logLevel'], settings)).toEqual({
      controlToken: '(changed)',
      logLevel: 'debug',
    });
  });
});
