/**
 * Close codes a client accepts in a close frame: RFC 6455 7.4.1's, less 1004-1006 and 1015
 * (never sent), plus IANA's 1012-1014; 3000-4999 are for libraries and applications.
 */
export function isSendableCloseCode(code: number): boolean {
  return (
    (code >= 1000 && code <= 1003) ||
    (code >= 1007 && code <= 1014) ||
    (code >= 3000 && code <= 4999)
  );
}
