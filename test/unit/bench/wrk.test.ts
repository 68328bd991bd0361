import { describe, expect, it } from 'vitest';
import { parseWrkReport } from '../../../bench/loadgen/wrk.js';

const report = `Running 5s test @ http://127.0.0.1:8080/plain/hello
  2 threads and 64 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency     2.61ms    1.02ms  31.20ms   88.04%
    Req/Sec    12.40k     1.10k   14.71k    71.00%
  Latency Distribution
     50%    2.45ms
     75%    2.90ms
     90%    3.50ms
     99%  750.00us
  123456 requests in 5.01s, 12.34MB read
  Socket errors: connect 0, read 3, write 0, timeout 2
  Non-2xx or 3xx responses: 7
Requests/sec:  24641.92
Transfer/sec:      2.46MB
`;

describe('parseWrkReport', () => {
  it('reads the counts, the window and the percentiles in their units', () => {
    expect(parseWrkReport(report)).toEqual({
      responses: 123456,
      badStatuses: 7,
      errors: { read: 3, timeout: 2 },
      elapsedMs: 5010,
      p50Ms: 2.45,
      p99Ms: 0.75,
    });
  });

  it('a clean run has no errors and no bad statuses', () => {
    const clean = report
      .replace('read 3, write 0, timeout 2', 'read 0, write 0, timeout 0')
      .replace('  Non-2xx or 3xx responses: 7\n', '');
    expect(parseWrkReport(clean)).toMatchObject({ badStatuses: 0, errors: {} });
  });

  it('a report without a request count is refused', () => {
    expect(() => parseWrkReport('unable to connect to 127.0.0.1:1 Connection refused')).toThrow(
      'no request count',
    );
  });
});
