import { parseArgs } from 'node:util';

export interface SoakOptions {
  minutes: number;
  connections: number;
  publishes: number;
  channels: number;
  workers: number;
  generators: number;
  intervalS: number;
  lifeMinS: number;
  lifeMaxS: number;
  drainS: number;
  sources: number;
  out: string | undefined;
  /** Test the checker: withhold this item (see PublishPlan.withheld). */
  withhold: number | undefined;
}

export const usage = `npm run soak -- [options]

  --minutes M        how long publishes run (10)
  --connections N    connections kept open, split evenly over the five transports (10000)
  --publishes N      items published in all, spread evenly over the run (100000 per minute:
                     1000000 for 10 minutes)
  --channels N       channels; each connection and item picks one at random (connections / 5)
  --workers N        thumbtack proxy workers (2)
  --generators N     load generator processes (2)
  --interval S       seconds between the printed samples (10; less for short runs)
  --life-min S, --life-max S
                     each connection lives a random time in this range, then a new one
                     opens (2 and 60; at most a third of the run)
  --drain S          how long a closing connection waits for items published before (10)
  --sources N        client source addresses 127.0.0.1..N (8)
  --out DIR          where soak.json and soak.svg go (bench/results/soak-<time>/)
  --withhold N       test the checker: log item N as published but never send it (the run
                     must then report it lost and fail)
`;

export function readOptions(argv: string[]): SoakOptions {
  const { values } = parseArgs({
    args: argv,
    strict: true,
    options: {
      minutes: { type: 'string', default: '10' },
      connections: { type: 'string', default: '10000' },
      publishes: { type: 'string' },
      channels: { type: 'string' },
      workers: { type: 'string', default: '2' },
      generators: { type: 'string', default: '2' },
      interval: { type: 'string' },
      'life-min': { type: 'string' },
      'life-max': { type: 'string' },
      drain: { type: 'string', default: '10' },
      sources: { type: 'string', default: '8' },
      out: { type: 'string' },
      withhold: { type: 'string' },
      help: { type: 'boolean', default: false },
    },
  });
  if (values.help) {
    process.stdout.write(usage);
    process.exit(0);
  }
  const number = (name: string, text: string, min: number, isInteger: boolean): number => {
    const n = Number(text);
    if (!Number.isFinite(n) || n < min || (isInteger && !Number.isInteger(n)))
      throw new Error(
        `--${name} must be ${isInteger ? 'an integer' : 'a number'} >= ${min}, not ${JSON.stringify(text)}`,
      );
    return n;
  };
  const minutes = number('minutes', values.minutes, 0.05, false);
  const connections = number('connections', values.connections, 5, true);
  const durationS = minutes * 60;
  const lifeMaxS =
    values['life-max'] !== undefined
      ? number('life-max', values['life-max'], 0.5, false)
      : Math.min(60, durationS / 3);
  const lifeMinS =
    values['life-min'] !== undefined
      ? number('life-min', values['life-min'], 0.1, false)
      : Math.min(2, lifeMaxS / 4);
  if (lifeMinS > lifeMaxS) throw new Error('--life-min must not be above --life-max');
  const publishes =
    values.publishes !== undefined
      ? number('publishes', values.publishes, 1, true)
      : Math.round(100_000 * minutes);
  const channels =
    values.channels !== undefined
      ? number('channels', values.channels, 1, true)
      : Math.max(1, Math.round(connections / 5));
  if (publishes < channels)
    throw new Error(
      `--publishes must be at least --channels (${channels}): one warms each channel`,
    );
  return {
    minutes,
    connections,
    publishes,
    channels,
    workers: number('workers', values.workers, 1, true),
    generators: number('generators', values.generators, 1, true),
    intervalS:
      values.interval !== undefined
        ? number('interval', values.interval, 0.5, false)
        : Math.min(10, Math.max(1, Math.round(durationS / 10))),
    lifeMinS,
    lifeMaxS,
    drainS: number('drain', values.drain, 0.5, false),
    sources: Math.min(254, number('sources', values.sources, 1, true)),
    out: values.out,
    withhold:
      values.withhold !== undefined ? number('withhold', values.withhold, 1, true) : undefined,
  };
}
