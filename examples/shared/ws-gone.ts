import type { WebSocketContext } from '@fanoutio/grip';

/**
 * Whether this WebSocket-over-HTTP request says the client closed (its close is answered)
 * or went away (DISCONNECT, which the GRIP library reports by throwing).
 */
export function isGone(ws: WebSocketContext): boolean {
  try {
    while (ws.canRecv()) {
      if (ws.recv() === null) {
        ws.close(ws.closeCode ?? 1000);
        return true;
      }
    }
    return false;
  } catch {
    return true;
  }
}
