/** Receives the payload of a chunked body, slice by slice, and each chunk boundary. */
export interface ChunkSink {
  onBody(buf: Buffer, start: number, end: number): void;
  /** A chunk's payload is complete (its trailing CRLF was read). */
  onChunkEnd(): void;
  /** The zero-length last chunk was read. */
  onBodyEnd(): void;
}

const SIZE = 0;
const SIZE_LINE = 1;
const DATA = 2;
const DATA_CR = 3;
const DATA_LF = 4;
const TRAILER = 5;
const DONE = 6;

/**
 * Incremental `Transfer-Encoding: chunked` decoder. It keeps the chunk boundaries visible
 * because they show how many published items the server put into one write.
 */
export class ChunkedDecoder {
  private state = SIZE;
  private size = 0;
  private remaining = 0;
  private trailerMatched = 0;

  reset(): void {
    this.state = SIZE;
    this.size = 0;
    this.remaining = 0;
    this.trailerMatched = 0;
  }

  get isDone(): boolean {
    return this.state === DONE;
  }

  /** Throws on a malformed size line; the caller drops the connection. */
  feed(buf: Buffer, start: number, sink: ChunkSink): void {
    let i = start;
    const n = buf.length;
    while (i < n) {
      switch (this.state) {
        case SIZE: {
          const c = buf[i++];
          const digit = hexValue(c);
          if (digit >= 0) {
            this.size = this.size * 16 + digit;
          } else if (c === 0x0d || c === 0x3b) {
            this.state = SIZE_LINE; // CR, or ';' starting extensions: skip to LF
          } else {
            throw new Error(`bad chunk size byte 0x${c.toString(16)}`);
          }
          break;
        }
        case SIZE_LINE:
          if (buf[i++] === 0x0a) {
            if (this.size === 0) {
              this.state = TRAILER;
              this.trailerMatched = 2; // the size line's CRLF counts toward the final CRLFCRLF
            } else {
              this.remaining = this.size;
              this.state = DATA;
            }
            this.size = 0;
          }
          break;
        case DATA: {
          const take = Math.min(this.remaining, n - i);
          sink.onBody(buf, i, i + take);
          i += take;
          this.remaining -= take;
          if (this.remaining === 0) this.state = DATA_CR;
          break;
        }
        case DATA_CR:
          i++;
          this.state = DATA_LF;
          break;
        case DATA_LF:
          i++;
          this.state = SIZE;
          sink.onChunkEnd();
          break;
        case TRAILER: {
          const c = buf[i++];
          this.trailerMatched =
            c === (this.trailerMatched % 2 === 0 ? 0x0d : 0x0a) ? this.trailerMatched + 1 : 0;
          if (this.trailerMatched >= 4) {
            this.state = DONE;
            sink.onBodyEnd();
            return;
          }
          break;
        }
        default:
          return;
      }
    }
  }
}

function hexValue(c: number): number {
  if (c >= 0x30 && c <= 0x39) return c - 0x30;
  if (c >= 0x61 && c <= 0x66) return c - 0x57;
  if (c >= 0x41 && c <= 0x46) return c - 0x37;
  return -1;
}
