/*
 * What the runner tells each child it starts, through the environment: its name
 * (`handler`, `proxy-0`...) and how many times it was restarted before, which label and
 * count its metrics (`worker`, thumbtack_restarts_total). A process run alone has neither.
 */

export const childNameVariable = 'THUMBTACK_CHILD_NAME';
export const childRestartsVariable = 'THUMBTACK_CHILD_RESTARTS';

/** The runner's name for this process, else `fallback`. */
export function childName(fallback: string): string {
  return process.env[childNameVariable] || fallback;
}

export function childRestarts(): number {
  return Number(process.env[childRestartsVariable] ?? 0) || 0;
}
