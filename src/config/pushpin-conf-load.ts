import fs from 'node:fs';
import path from 'node:path';
import { ConfigError } from '../errors.js';
import { parsePushpinConf } from './pushpin-conf.js';
import {
  mapPushpinConf,
  type PushpinConfMapping,
  type PushpinConfNote,
} from './pushpin-conf-map.js';
import type { SettingName } from './schema.js';

export interface PushpinConfSource {
  /** Absolute path of pushpin.conf. */
  file: string;
  mapping: PushpinConfMapping;
}

/** What pushpin.conf asked for that thumbtack does not do: the runner logs it in one line. */
export interface PushpinConfIgnored {
  file: string;
  ignored: PushpinConfNote[];
}

/** Reads, parses and maps pushpin.conf; every error names the file. */
export function readPushpinConf(fileName: string): PushpinConfSource {
  const file = path.resolve(fileName);
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (err) {
    throw new ConfigError(
      `pushpin config: cannot read "${file}": ${(err as NodeJS.ErrnoException).code}`,
    );
  }
  return { file, mapping: mapPushpinConf(parsePushpinConf(text, file), file) };
}

/** The setting's source as load.ts records it: `file: [section] key`. */
export function pushpinSource(source: PushpinConfSource, key: string): string {
  return `${source.file}: ${key}`;
}

/**
 * Settles what only the merged settings can tell: a refused key another source overrode is
 * only ignored, any other refusal stops start-up (in one line); Pushpin's per-node
 * connection cap becomes a per-worker one; certificates found from https_ports must exist.
 * `givenElsewhere` tells whether a flag, the environment or --config gave a setting.
 */
export function settlePushpinConf(
  source: PushpinConfSource,
  givenElsewhere: (name: SettingName) => string | undefined,
  workers: () => number,
): { ignored: PushpinConfIgnored; maxConnections?: number } {
  const { file, mapping } = source;
  const ignored = [...mapping.ignored];
  const refused: PushpinConfNote[] = [];
  for (const note of mapping.refused) {
    const override = note.overriddenBy?.map(givenElsewhere).find((s) => s !== undefined);
    if (override) ignored.push({ key: note.key, reason: `overridden by ${override}` });
    else refused.push(note);
  }
  if (refused.length > 0) {
    throw new ConfigError(
      `${file}: cannot run as configured: ${refused.map((n) => `${n.key} (${n.reason})`).join('; ')}`,
    );
  }
  for (const name of ['tlsCert', 'tlsKey'] as const) {
    const mapped = mapping.settings[name];
    if (!mapped || givenElsewhere(name) !== undefined) continue;
    try {
      fs.accessSync(String(mapped.value), fs.constants.R_OK);
    } catch (err) {
      throw new ConfigError(
        `${file}: ${mapped.key}: cannot read "${String(mapped.value)}" (${(err as NodeJS.ErrnoException).code}): put Pushpin's certificate and key there, or give --tls-cert and --tls-key`,
      );
    }
  }
  let maxConnections: number | undefined;
  if (mapping.nodeConnections && givenElsewhere('maxConnections') === undefined) {
    maxConnections = Math.ceil(Number(mapping.nodeConnections.value) / workers());
  }
  return { ignored: { file, ignored }, maxConnections };
}
