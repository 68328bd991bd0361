import type { HttpResponse } from 'uWebSockets.js';

const errorBodies: Record<number, string> = {
  400: 'Bad Request',
  403: 'Forbidden',
  411: 'Length Required',
  502: 'Bad Gateway',
  503: 'Service Unavailable',
  504: 'Gateway Timeout',
};

/** Pushpin's short text bodies, so clients and scripts written against it read the same. */
const defaultText: Record<number, string> = {
  502: 'Error while proxying to origin.\n',
  504: 'Timed out waiting for the origin.\n',
};

/**
 * Ends a response the proxy itself produces, corked, with a short text body. `isClosing`
 * closes the connection after it (uWS reads nothing more from it).
 */
export function sendError(res: HttpResponse, code: number, text?: string, isClosing = false): void {
  const body =
    text !== undefined
      ? text.endsWith('\n')
        ? text
        : text + '\n'
      : (defaultText[code] ?? `${errorBodies[code] ?? 'Error'}\n`);
  res.cork(() => {
    res.writeStatus(`${code} ${errorBodies[code] ?? 'Error'}`);
    res.writeHeader('Content-Type', 'text/plain');
    res.end(body, isClosing);
  });
}
