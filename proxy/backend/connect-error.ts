/**
 * Errors that mean no connection to a backend target could be made, so nothing reached it
 * and the next target may be tried (Pushpin's failover rule).
 */
const connectErrorCodes = new Set([
  'ECONNREFUSED',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'ENOTFOUND',
  'EAI_AGAIN',
  'UND_ERR_CONNECT_TIMEOUT',
]);

export function isConnectErrorCode(code: string | undefined): boolean {
  return code !== undefined && connectErrorCodes.has(code);
}
