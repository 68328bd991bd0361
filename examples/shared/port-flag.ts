/** A port from a parsed `--NAME` flag; anything else stops the example with exit code 2. */
export function portFlag(flags: Record<string, unknown>, name: string): number {
  const value = Number(flags[name]);
  if (!Number.isInteger(value) || value < 1 || value > 65535) {
    console.error(`--${name} must be a port number (1-65535), not ${String(flags[name])}`);
    process.exit(2);
  }
  return value;
}
