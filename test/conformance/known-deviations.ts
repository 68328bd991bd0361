/*
 * Deviations of uWebSockets.js v20.30 that thumbtack cannot fix: uWS parses every client
 * frame and answers close frames itself, before thumbtack sees anything. The integration
 * test pins these with `it.fails`, so an upgrade that fixes one shows; docs/ws-conformance.md
 * lists them with their reasons. Each shows on both routes alike.
 */

/**
 * Why each group of cases deviates, and the cases that show it. `isOpenEnded`: the server
 * does nothing, so the case waits out its timeout.
 */
const deviations: { reason: string; cases: readonly string[]; isOpenEnded?: true }[] = [
  {
    reason:
      'uWS v20.30 fails the connection by closing TCP at once, without the close frame ' +
      '(1002, 1007, 1009) RFC 6455 7.1.7 says it SHOULD send first',
    cases: [
      '2.5',
      ...['3.1', '3.2', '3.3', '3.4', '3.5', '3.6', '3.7'],
      ...['4.1.1', '4.1.2', '4.1.3', '4.1.4', '4.1.5', '4.2.1', '4.2.2', '4.2.3', '4.2.4', '4.2.5'],
      ...['5.1', '5.2', '5.9', '5.10', '5.11'],
      ...['6.2.1', '6.2.2', '6.2.3', '6.2.4', '6.2.5', '6.2.6', '6.3.1', '6.3.2'],
      ...['7.3.4', '9.4', '9.5', '11.1', '11.2'],
    ],
  },
  {
    reason:
      'uWS v20.30 does not check the MASK bit: an unmasked client frame is read as if masked ' +
      '(its first payload bytes taken for the key), so instead of failing the connection ' +
      '(RFC 6455 5.1: MUST close) it waits for payload bytes that never come',
    cases: ['1.4.1', '1.4.2', '1.4.3'],
    isOpenEnded: true,
  },
  {
    reason:
      'uWS v20.30 does not fail a data frame that starts a new message (FIN = 0) inside an ' +
      'unfinished fragmented message (RFC 6455 5.4): the connection stays open',
    cases: ['5.12'],
    isOpenEnded: true,
  },
  {
    reason:
      'uWS v20.30 checks UTF-8 when a fragmented text message is complete, not fragment by ' +
      'fragment: invalid bytes in an unfinished message do not fail the connection (RFC 6455 ' +
      '8.1; Autobahn 6.4 "fail fast", non-strict there)',
    cases: ['6.3.3'],
    isOpenEnded: true,
  },
  {
    reason:
      'uWS v20.30 answers a close frame whose code is invalid (RFC 6455 7.4) or whose reason ' +
      'is not UTF-8 (8.1) with an empty close frame instead of failing with 1002/1007, and ' +
      'reports 1006 to thumbtack (the backend sees a disconnect)',
    cases: [
      '7.5.1',
      ...['7.9.1', '7.9.2', '7.9.3', '7.9.4', '7.9.5', '7.9.6', '7.9.7', '7.9.8', '7.9.9'],
      ...['7.9.10', '7.9.11', '7.9.12'],
    ],
  },
  {
    reason:
      'uWS v20.30 treats the valid close codes 1012-1014 (IANA) and 3000, 3999 (RFC 6455 ' +
      '7.4.2) as invalid: an empty close frame back and 1006 reported, so the backend sees ' +
      'a disconnect instead of the code',
    cases: ['7.7.10', '7.7.11', '7.7.12', '7.7.13', '7.7.14'],
  },
  {
    reason:
      'uWS v20.30 answers a close frame with a 1-byte payload (RFC 6455 5.5.1: a protocol ' +
      'error, 1002) with an empty close frame, as a close without status',
    cases: ['7.3.2'],
  },
];

/** The reason a case deviates, if it is a known uWS deviation. */
export function knownDeviation(caseId: string): string | undefined {
  return deviations.find((d) => d.cases.includes(caseId))?.reason;
}

/** A known deviation where the server does nothing: the case waits out its timeout. */
export function isOpenEndedDeviation(caseId: string): boolean {
  return deviations.some((d) => d.isOpenEnded && d.cases.includes(caseId));
}
