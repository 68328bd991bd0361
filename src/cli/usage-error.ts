import { ThumbtackError } from '../errors.js';

/** A command line that cannot be run as given: the command exits 2 and prints its usage. */
export class UsageError extends ThumbtackError {
  constructor(message: string) {
    super('E_USAGE', message);
  }
}
