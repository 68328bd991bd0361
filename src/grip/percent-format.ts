/*
 * The `%` directive syntax Pushpin's content filters share (its Format::process, in
 * src/handler/format.cpp): `%%` is a literal `%`, `%X` is directive X without an argument
 * (X a letter), `%(arg)X` is directive X with an argument in which a backslash escapes the
 * next byte. What a directive stands for is up to the caller: var-subst knows `s`,
 * build-id knows `I`, an id_format template knows `s`.
 */

const PERCENT = 0x25;
const OPEN = 0x28;
const CLOSE = 0x29;
const BACKSLASH = 0x5c;

/**
 * Returns the bytes directive `type` stands for (`arg` is undefined for `%X`), or an error
 * message without a position (the caller's wording; the position is added here).
 */
export type DirectiveHandler<C> = (
  context: C,
  type: string,
  arg: Buffer | undefined,
) => Buffer | string;

/**
 * Expands every directive in `input`. Returns the new bytes (the same Buffer when there is
 * no `%` at all) or an error message with Pushpin's wording and byte position.
 */
export function renderPercentFormat<C>(
  input: Buffer,
  handle: DirectiveHandler<C>,
  context: C,
): Buffer | string {
  let at = input.indexOf(PERCENT);
  if (at === -1) return input;
  const parts: Buffer[] = [];
  let copied = 0;
  while (at !== -1) {
    parts.push(input.subarray(copied, at));
    let n = at + 1;
    if (n >= input.length) return `Expected directive after '%' at position ${at}`;
    const directive = input[n]!;
    if (directive === PERCENT) {
      parts.push(input.subarray(n, n + 1));
    } else if (directive === OPEN) {
      const fieldStart = n;
      if (n + 1 >= input.length) return `Expected character after '(' at position ${n}`;
      n++;
      const arg: number[] = [];
      let isClosed = false;
      for (; n < input.length; n++) {
        const c = input[n]!;
        if (c === BACKSLASH) {
          if (n + 1 >= input.length) return `Expected character after '\\' at position ${n}`;
          arg.push(input[++n]!);
        } else if (c === CLOSE) {
          isClosed = true;
          break;
        } else {
          arg.push(c);
        }
      }
      if (!isClosed) return `Unterminated field starting at position ${fieldStart}`;
      if (n + 1 >= input.length) return `Expected directive after ')' at position ${n}`;
      n++;
      const out = handle(context, String.fromCharCode(input[n]!), Buffer.from(arg));
      if (typeof out === 'string') return `${out} at position ${n}`;
      parts.push(out);
    } else if (isAlpha(directive)) {
      const out = handle(context, String.fromCharCode(directive), undefined);
      if (typeof out === 'string') return `${out} at position ${n}`;
      parts.push(out);
    } else {
      return `Unknown directive '${String.fromCharCode(directive)}' at position ${n}`;
    }
    copied = n + 1;
    at = input.indexOf(PERCENT, copied);
  }
  parts.push(input.subarray(copied));
  return Buffer.concat(parts);
}

/** C's isalpha in the C locale: ASCII letters only. */
function isAlpha(c: number): boolean {
  return (c >= 0x41 && c <= 0x5a) || (c >= 0x61 && c <= 0x7a);
}
