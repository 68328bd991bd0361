/*
 * What may be written as a response header or status line. A published or instructed
 * response is written to clients byte for byte, so a CR or LF in a header or reason would
 * end the line early: a header name, value or reason from a publisher could then add headers
 * of its own or split the response (response splitting).
 */

/** RFC 9110 §5.6.2 token: a header name. */
const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;
/** Bytes no header value or reason phrase may hold (RFC 9110 §5.5). */
const LINE_BREAK = /[\r\n\0]/;

/** Why this header cannot be written, or undefined when it can. */
export function headerFieldProblem(name: string, value: string): string | undefined {
  if (!TOKEN.test(name)) return `header name ${JSON.stringify(name)} is not a token`;
  if (LINE_BREAK.test(value)) {
    return `header '${name}' has a value with a CR, LF or NUL character`;
  }
  return undefined;
}

/** Why this reason phrase cannot be written, or undefined when it can. */
export function reasonPhraseProblem(reason: string): string | undefined {
  return LINE_BREAK.test(reason) ? 'reason has a CR, LF or NUL character' : undefined;
}

/**
 * A request header only a GRIP proxy may send (lower-case name): `Grip-*`, and `Grip_*`,
 * which CGI-style backends (PHP, WSGI) read as the same header.
 */
export function isGripRequestHeader(lowerName: string): boolean {
  return lowerName.startsWith('grip') && (lowerName[4] === '-' || lowerName[4] === '_');
}
