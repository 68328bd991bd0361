/*
 * Scoped publish credentials, a thumbtack extension: a control API JWT may carry a
 * `channels` claim, the channels its bearer may publish to. Each entry is an exact
 * channel name, or a prefix when it ends with `*` (`news.*` covers `news.sport`); `*`
 * alone covers every channel. A token without the claim may publish anywhere.
 */

/** The claim's patterns, or a message saying what is wrong with it. */
export function parseChannelsClaim(claim: unknown): readonly string[] | string {
  if (!Array.isArray(claim) || !claim.every((entry) => typeof entry === 'string' && entry !== '')) {
    return 'the "channels" claim must be an array of non-empty strings (names, or prefixes ending in *)';
  }
  return claim as string[];
}

export function isInScope(channel: string, patterns: readonly string[]): boolean {
  return patterns.some((pattern) =>
    pattern.endsWith('*') ? channel.startsWith(pattern.slice(0, -1)) : channel === pattern,
  );
}

/** The first channel the patterns do not cover, if any. */
export function firstOutOfScope(
  channels: Iterable<string>,
  patterns: readonly string[],
): string | undefined {
  for (const channel of channels) if (!isInScope(channel, patterns)) return channel;
  return undefined;
}
