import type { HttpResponse, us_socket_context_t } from 'uWebSockets.js';
import { isSwitchingProtocolsHeader } from '../../src/grip/ws-over-http.js';
import { isRelayedHeader, writeRelayedHeaders } from '../http/response-headers.js';
import type { WsSession, WsUserData } from './session.js';
import type { UpgradeRequest } from './upgrade-request.js';

/** A refused upgrade relays at most this much of the backend's body (Pushpin). */
export const refusalBodyMax = 100_000;

/**
 * Answers the client's upgrade with 101 once the backend accepted: the backend's headers
 * minus framing, protocol and GRIP ones; uWS answers the key, writes the subprotocol and
 * negotiates permessage-deflate itself. uWS calls the session's onOpen before returning.
 * `gripExtension`: the backend's acceptance of the grip extension, passed back to an
 * upstream GRIP proxy.
 */
export function acceptUpgrade(
  res: HttpResponse,
  backendHeaders: readonly [string, string][],
  protocol: string,
  upgrade: UpgradeRequest,
  context: us_socket_context_t,
  session: WsSession,
  gripExtension = '',
): void {
  res.cork(() => {
    res.writeStatus('101 Switching Protocols');
    for (const [name, value] of backendHeaders) {
      if (isSwitchingProtocolsHeader(name) && isRelayedHeader(name)) {
        res.writeHeader(name, Buffer.from(value, 'latin1'));
      }
    }
    if (gripExtension) res.writeHeader('Sec-WebSocket-Extensions', gripExtension);
    res.upgrade<WsUserData>({ session }, upgrade.key, protocol, upgrade.extensions, context);
  });
}

/** The backend refused the WebSocket: its answer becomes the client's HTTP answer. */
export function relayRefusal(
  res: HttpResponse,
  status: number,
  reason: string,
  headers: readonly [string, string][],
  body: Buffer,
): void {
  res.cork(() => {
    res.writeStatus(`${status} ${reason || 'Error'}`);
    writeRelayedHeaders(res, headers);
    res.end(body.subarray(0, refusalBodyMax));
  });
}
