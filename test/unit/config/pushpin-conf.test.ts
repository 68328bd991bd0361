import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ConfigError } from '../../../src/errors.js';
import { mapPushpinConf } from '../../../src/config/pushpin-conf-map.js';
import { parsePushpinConf } from '../../../src/config/pushpin-conf.js';
import { PushpinConfSyntaxError } from '../../../src/errors.js';

const FILE = '/etc/pushpin/pushpin.conf';

/** Sections as plain objects of key → value, for readable expectations. */
function parsed(text: string): Record<string, Record<string, string>> {
  const out: Record<string, Record<string, string>> = {};
  for (const [section, entries] of parsePushpinConf(text, FILE)) {
    out[section] = {};
    for (const [key, entry] of entries) out[section][key] = entry.value;
  }
  return out;
}

describe('parsePushpinConf', () => {
  it('reads sections and key=value lines, trimming spaces around keys and values', () => {
    expect(
      parsed('[runner]\nhttp_port=7999\n  log_level = 2  \n[proxy]\nroutesfile=routes\n'),
    ).toEqual({ runner: { http_port: '7999', log_level: '2' }, proxy: { routesfile: 'routes' } });
  });

  it('skips blank lines and # and ; comments, and keeps # inside a value', () => {
    expect(parsed('# top\n\n[handler]\n; note\n  # indented\npush_in_spec=ipc://a#b\n')).toEqual({
      handler: { push_in_spec: 'ipc://a#b' },
    });
  });

  it('keeps everything after the first = in the value, and an empty value', () => {
    expect(parsed('[proxy]\nsig_key=base64:YWJj==\nupstream_key=\n')).toEqual({
      proxy: { sig_key: 'base64:YWJj==', upstream_key: '' },
    });
  });

  it('drops double quotes around a value', () => {
    expect(parsed('[proxy]\nx_forwarded_for="truncate:0,append"\n')).toEqual({
      proxy: { x_forwarded_for: 'truncate:0,append' },
    });
  });

  it('merges a repeated section, and a repeated key keeps its last value (as QSettings)', () => {
    expect(parsed('[runner]\nhttp_port=1\n[proxy]\ndebug=true\n[runner]\nhttp_port=2\n')).toEqual({
      runner: { http_port: '2' },
      proxy: { debug: 'true' },
    });
  });

  it('reads CRLF files and records line numbers', () => {
    const conf = parsePushpinConf('[runner]\r\n\r\nhttp_port=7999\r\n', FILE);
    expect(conf.get('runner')?.get('http_port')).toEqual({ value: '7999', line: 3 });
  });

  it.each([
    ['[runner\nhttp_port=1', 1, 'is not a section header'],
    ['[runner]]\n', 1, 'is not a section header'],
    ['[]\n', 1, 'empty section name'],
    ['[runner]\nhttp_port 7999\n', 2, 'has no "="'],
    ['[runner]\n\n=7999\n', 3, 'has no key before "="'],
    ['http_port=7999\n', 1, 'comes before any [section]'],
    ['[proxy]\nsig_key="abc\n', 2, 'has no closing "'],
    ['[proxy]\nsig_key="\n', 2, 'has no closing "'],
  ])('%j: a syntax error names the file and line %i', (text, line, problem) => {
    let error: unknown;
    try {
      parsePushpinConf(text, FILE);
    } catch (err) {
      error = err;
    }
    expect(error).toBeInstanceOf(PushpinConfSyntaxError);
    expect((error as PushpinConfSyntaxError).code).toBe('E_PUSHPIN_CONF_SYNTAX');
    expect((error as Error).message).toMatch(new RegExp(`^${FILE}:${line}: `));
    expect((error as Error).message).toContain(problem);
    expect((error as Error).message).not.toContain('\n');
  });
});

describe('pushpin.conf codecs (properties)', () => {
  const runs = Number(process.env.FUZZ_RUNS ?? 2000);
  const params = { numRuns: runs, seed: Number(process.env.FUZZ_SEED ?? 20261206) };
  const confLine = fc.oneof(
    fc.string({ maxLength: 40 }),
    fc.constantFrom('[global]', '[runner]', '[proxy]', '[handler]', '[x]', '# c', ';', ''),
    fc
      .tuple(
        fc.constantFrom(
          'http_port',
          'https_ports',
          'log_level',
          'routesfile',
          'push_in_spec',
          'push_in_sub_specs',
          'push_in_http_port',
          'x_forwarded_for',
          'client_maxconn',
          'debug',
          'constructor',
          '__proto__',
          'port_offset',
          'prometheus_port',
        ),
        fc.oneof(
          fc.string({ maxLength: 30 }),
          fc
            .array(fc.constantFrom(...'0179:,.[]{}tcp/"append truncate'), { maxLength: 24 })
            .map((c) => c.join('')),
        ),
      )
      .map(([key, value]) => `${key}=${value}`),
  );
  const confText = fc.array(confLine, { maxLength: 16 }).map((lines) => lines.join('\n'));

  it('parsePushpinConf returns a value or throws PushpinConfSyntaxError', () => {
    fc.assert(
      fc.property(confText, (text) => {
        try {
          parsePushpinConf(text, FILE);
        } catch (err) {
          if (!(err instanceof PushpinConfSyntaxError)) throw err;
          expect(err.message.startsWith(`${FILE}:`)).toBe(true);
        }
      }),
      params,
    );
  });

  it('mapPushpinConf maps any parsed file or throws ConfigError naming the file and key', () => {
    fc.assert(
      fc.property(confText, (text) => {
        let conf;
        try {
          conf = parsePushpinConf(text, FILE);
        } catch {
          return;
        }
        try {
          mapPushpinConf(conf, FILE);
        } catch (err) {
          if (!(err instanceof ConfigError)) throw err;
          expect(err.message).toMatch(/^\/etc\/pushpin\/pushpin\.conf: \[\w+\] \w+: bad value /);
        }
      }),
      params,
    );
  });
});
