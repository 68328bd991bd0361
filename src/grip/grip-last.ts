/**
 * The `Grip-Last` request header values of a re-request (next link, hold retry): each
 * channel's last id, so the backend can answer with what came after it (protocol 1.9).
 * Channels are named as the backend knows them (no route prefix).
 */
export function gripLastValues(lastIds: ReadonlyMap<string, string>): string[] {
  const out: string[] = [];
  for (const [channel, id] of lastIds) out.push(`${channel}; last-id=${id}`);
  return out;
}
