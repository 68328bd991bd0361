import type { Logger } from '../log.js';
import type { LoadedArgs } from './load.js';

/** Every pushpin.conf key without effect, in one line: what was asked for, and why not. */
export function logPushpinIgnored(log: Logger, loaded: LoadedArgs): void {
  const notes = loaded.pushpinIgnored;
  if (!notes || notes.ignored.length === 0) return;
  const ignored: Record<string, string> = {};
  for (const note of notes.ignored) {
    ignored[note.key] = ignored[note.key] ? `${ignored[note.key]}; ${note.reason}` : note.reason;
  }
  log.warn(
    { pushpinConfig: notes.file, ignored },
    `${notes.file}: ignored ${Object.keys(ignored).join(', ')} (thumbtack has no equivalent; "ignored" says why for each)`,
  );
}
