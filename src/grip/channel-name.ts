/**
 * What a channel name may not be, wherever it comes from (publish items, hold instructions,
 * WebSocket control messages). The empty name and names with a NUL are the internal bus's:
 * a worker subscribes the empty topic to get every delivery, and topics starting with NUL
 * carry its replay-end markers. Anything else is a valid name, as in Pushpin.
 *
 * Returns why `name` is refused, or undefined when it is a valid name.
 */
export function channelNameProblem(name: string): string | undefined {
  if (name === '') return 'is empty';
  if (name.includes('\u0000')) return 'contains a NUL character';
  return undefined;
}

/**
 * Channels of this form address one held connection by its id (`Connection-Id`), on
 * whichever node and worker holds it, without the backend subscribing it to anything.
 */
export const connectionChannelPrefix = '$connection:';

/** The connection id a `$connection:<id>` channel addresses; undefined for other channels. */
export function addressedConnection(channel: string): string | undefined {
  // One character test first: this runs for every delivery.
  if (channel.charCodeAt(0) !== 0x24 || !channel.startsWith(connectionChannelPrefix)) {
    return undefined;
  }
  return channel.slice(connectionChannelPrefix.length);
}
