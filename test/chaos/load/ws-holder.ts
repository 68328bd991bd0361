import { WebSocket } from 'ws';
import { Holder, type HeldSegment } from './holder.js';

/**
 * A WebSocket client (`ws`) on a WebSocket-over-HTTP route: the backend subscribes it to
 * its channel. `sendEcho` sends `s<n>`; the backend's `echo s<n>` answers are collected.
 */
export class WsHolder extends Holder {
  private socket: WebSocket | undefined;
  readonly echoed = new Set<number>();
  /** Echo messages sent, over every connection. */
  echoesSent = 0;

  constructor(
    private readonly url: string,
    reconnectAfterMs?: number,
  ) {
    super('ws', reconnectAfterMs);
  }

  sendEcho(n: number): boolean {
    if (!this.isOpen() || this.socket?.readyState !== WebSocket.OPEN) return false;
    this.socket.send(`s${n}`);
    this.echoesSent++;
    return true;
  }

  protected connect(segment: HeldSegment): void {
    const socket = new WebSocket(this.url, { perMessageDeflate: false });
    this.socket = socket;
    socket.on('open', () => {
      segment.localPort = (
        socket as unknown as { _socket: { localPort: number } }
      )._socket.localPort;
      this.onOpened(segment);
    });
    socket.on('message', (data, isBinary) => {
      if (isBinary) return;
      const text = String(data);
      if (text.startsWith('echo s')) this.echoed.add(Number(text.slice(6)));
      else this.onText(text);
    });
    socket.on('error', (err: NodeJS.ErrnoException) =>
      this.onClosed(segment, err.code ?? err.message),
    );
    socket.on('close', (code) => this.onClosed(segment, `close ${code}`));
  }

  protected disconnect(): void {
    this.socket?.terminate();
  }
}
