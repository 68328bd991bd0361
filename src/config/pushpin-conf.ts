import { PushpinConfSyntaxError } from '../errors.js';

export interface PushpinConfEntry {
  value: string;
  /** 1-based line number, for messages. */
  line: number;
}

/** Sections by name, each its keys in file order. */
export type PushpinConf = Map<string, Map<string, PushpinConfEntry>>;

/**
 * Parses `pushpin.conf` as Pushpin's INI reader does: `[section]` headers, `key=value`
 * lines (spaces around both trimmed), `#` and `;` comment lines, double quotes around a
 * value dropped. A section given twice is one section, and a key given twice keeps its last
 * value, as in QSettings. A key before any section has nowhere to go, so it is an error.
 * Throws PushpinConfSyntaxError starting `file:line:`.
 */
export function parsePushpinConf(text: string, fileName: string): PushpinConf {
  const conf: PushpinConf = new Map();
  let section: Map<string, PushpinConfEntry> | undefined;
  const lines = text.split(/\r?\n/);
  for (let at = 0; at < lines.length; at++) {
    const line = lines[at]!.trim();
    const fail = (problem: string): never => {
      throw new PushpinConfSyntaxError(`${fileName}:${at + 1}: ${problem}`);
    };
    if (line === '' || line.startsWith('#') || line.startsWith(';')) continue;
    if (line.startsWith('[')) {
      const match = /^\[([^[\]]*)\]$/.exec(line);
      if (!match) fail(`"${line}" is not a section header; write [name]`);
      const name = match![1]!.trim();
      if (name === '') fail('empty section name "[]"');
      section = conf.get(name) ?? new Map();
      conf.set(name, section);
      continue;
    }
    const eq = line.indexOf('=');
    if (eq === -1) fail(`"${line}" has no "="; write key=value`);
    const key = line.slice(0, eq).trim();
    if (key === '') fail(`"${line}" has no key before "="`);
    if (!section) fail(`"${key}" comes before any [section]`);
    let value = line.slice(eq + 1).trim();
    if (value.startsWith('"')) {
      if (value.length < 2 || !value.endsWith('"')) fail(`the value of "${key}" has no closing "`);
      value = value.slice(1, -1);
    }
    // Deleted first so a repeated key moves to its last position, as its value does.
    section!.delete(key);
    section!.set(key, { value, line: at + 1 });
  }
  return conf;
}
