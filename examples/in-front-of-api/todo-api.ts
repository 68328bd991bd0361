import { HttpResponseFormat, HttpStreamFormat, type Publisher } from '@fanoutio/grip';
import express from 'express';

/*
 * An ordinary in-memory todo API in Express. Everything marked LIVE was added to put it
 * behind a GRIP proxy: two routes that answer with GRIP headers, and one publish after
 * each write. The rest is what the API looked like before.
 */

export interface Todo {
  id: string;
  title: string;
  done: boolean;
}

/** One write, as live clients receive it; `rev` numbers the writes from 1. */
export interface Change {
  rev: number;
  type: 'created' | 'updated' | 'deleted';
  todo: Todo;
}

/** The channel every change is published to and every live client listens on. */
const CHANNEL = 'todos';

export function createTodoApi(publisher: Publisher): express.Express {
  const todos = new Map<string, Todo>();
  // LIVE: the changes so far, so a long-poll client that missed some gets them at once.
  const changes: Change[] = [];
  let nextId = 1;

  const app = express();
  app.use(express.json());
  // LIVE: a held answer goes out with the headers of the API's first answer, so an ETag
  // computed for that body would not match what the client finally gets.
  app.set('etag', false);

  app.get('/todos', (_req, res) => {
    res.json([...todos.values()]);
  });

  // LIVE: Server-Sent Events (declared before /todos/:id, which would match the path). The
  // answer is the list as it is now; the two Grip-* headers tell the proxy to keep the
  // connection open and append whatever is published to "todos".
  app.get('/todos/events', (_req, res) => {
    res.set({
      'Content-Type': 'text/event-stream',
      'Grip-Hold': 'stream',
      'Grip-Channel': CHANNEL,
    });
    res.send(sseEvent({ type: 'snapshot', rev: changes.length, todos: [...todos.values()] }));
  });

  // LIVE: long-poll. `?after=N` is the last rev the client has: changes it missed are
  // answered at once; otherwise the proxy holds the request until the next publish, or
  // answers this empty list after 30 s.
  app.get('/todos/changes', (req, res) => {
    const after = Number(req.query['after'] ?? 0);
    const missed = changes.filter((change) => change.rev > after);
    if (missed.length > 0) {
      res.json({ changes: missed });
      return;
    }
    res.set({ 'Grip-Hold': 'response', 'Grip-Channel': CHANNEL, 'Grip-Timeout': '30' });
    res.json({ changes: [] });
  });

  app.get('/todos/:id', (req, res) => {
    const todo = todos.get(req.params.id);
    if (todo) res.json(todo);
    else res.status(404).json({ error: `no todo ${req.params.id}` });
  });

  app.post('/todos', async (req, res) => {
    const title: unknown = req.body?.title;
    if (typeof title !== 'string' || title.trim() === '') {
      res.status(400).json({ error: 'send {"title": "..."} with a non-empty title' });
      return;
    }
    const todo: Todo = { id: String(nextId++), title, done: false };
    todos.set(todo.id, todo);
    await publishChange('created', todo); // LIVE
    res.status(201).json(todo);
  });

  app.patch('/todos/:id', async (req, res) => {
    const todo = todos.get(req.params.id);
    if (!todo) {
      res.status(404).json({ error: `no todo ${req.params.id}` });
      return;
    }
    const { title, done } = (req.body ?? {}) as { title?: unknown; done?: unknown };
    if (typeof title === 'string' && title.trim() !== '') todo.title = title;
    if (typeof done === 'boolean') todo.done = done;
    await publishChange('updated', todo); // LIVE
    res.json(todo);
  });

  app.delete('/todos/:id', async (req, res) => {
    const todo = todos.get(req.params.id);
    if (!todo) {
      res.status(404).json({ error: `no todo ${req.params.id}` });
      return;
    }
    todos.delete(todo.id);
    await publishChange('deleted', todo); // LIVE
    res.status(204).end();
  });

  // LIVE: one publish per write, in two formats: an SSE event for the streams and a whole
  // JSON answer for the long-polls. The rev is the item id, so a repeat is delivered once.
  async function publishChange(type: Change['type'], todo: Todo): Promise<void> {
    const change: Change = { rev: changes.length + 1, type, todo: { ...todo } };
    changes.push(change);
    try {
      await publisher.publishFormats(
        CHANNEL,
        [
          new HttpStreamFormat(sseEvent(change, change.rev)),
          new HttpResponseFormat({
            headers: { 'Content-Type': 'application/json; charset=utf-8' },
            body: JSON.stringify({ changes: [change] }),
          }),
        ],
        String(change.rev),
      );
    } catch (err) {
      // The write stands: live clients catch up from their next snapshot or `after=`.
      console.error(`publishing change ${change.rev} failed: ${(err as Error).message}`);
    }
  }

  return app;
}

function sseEvent(data: unknown, id?: number): string {
  return `${id === undefined ? '' : `id: ${id}\n`}data: ${JSON.stringify(data)}\n\n`;
}
