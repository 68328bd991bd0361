/** Something that buffers writes within an event-loop turn and sends them in one go. */
export interface TurnFlushable {
  flush(): void;
}

let queue: TurnFlushable[] = [];

/**
 * Calls `target.flush()` once the current event-loop turn is over (setImmediate): writes
 * made in one turn (a burst of items, a response head and its body) then leave together,
 * one send per connection. One shared immediate serves every target of the turn.
 */
export function flushAtTurnEnd(target: TurnFlushable): void {
  if (queue.push(target) === 1) setImmediate(flushAll);
}

function flushAll(): void {
  const due = queue;
  queue = [];
  for (const target of due) target.flush();
}
