/*
 * Who may read what: the example's stand-in for a real user store. A token names a user;
 * each user may read some channels. Every connection also listens on its user's own
 * channel, which only the backend publishes to (to close that user's sockets).
 */

interface User {
  token: string;
  channels: readonly string[];
}

export const users: Readonly<Record<string, User>> = {
  alice: { token: 'alice-secret', channels: ['orders', 'alerts'] },
  bob: { token: 'bob-secret', channels: ['alerts'] },
};

/** The user a token belongs to, or undefined for an unknown token. */
export function findUserByToken(token: string | undefined): string | undefined {
  if (!token) return undefined;
  return Object.keys(users).find((name) => users[name]!.token === token);
}

export function mayRead(user: string, channel: string): boolean {
  return users[user]?.channels.includes(channel) ?? false;
}

/** The channel every socket of `user` is subscribed to from its OPEN on. */
export function userChannel(user: string): string {
  return `user-${user}`;
}
