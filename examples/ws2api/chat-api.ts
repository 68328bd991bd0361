import express from 'express';

/*
 * A chat room as a plain REST API, driven the way ws2api drives a RoadRunner PHP app:
 * it never sees a WebSocket. thumbtack (route option `over_http=rest`) calls
 * `GET /chat/<ClientId>` when a client connects, `POST /chat/<ClientId>` with each message
 * as the body, `DELETE /chat/<ClientId>` when the client is gone; the API pushes to a
 * client by publishing to the channel `$connection:<ClientId>`.
 */

/** Who may connect: the handshake's `Authorization: Bearer <token>` names the user. */
const users = new Map([
  ['alice-token', 'alice'],
  ['bob-token', 'bob'],
]);

export interface ChatApiOptions {
  /** thumbtack's control API, e.g. `http://127.0.0.1:5561`. */
  controlUrl: string;
  /** Called with one line per REST call, e.g. `GET /chat/<id>`. */
  log(line: string): void;
}

export function createChatApi({ controlUrl, log }: ChatApiOptions): express.Express {
  /** Connected clients: ClientId → user. */
  const clients = new Map<string, string>();

  /** ws2api's "API to WS" direction: one item per client, each to `$connection:<id>`. */
  async function push(ids: string[], text: string): Promise<void> {
    if (ids.length === 0) return;
    const items = ids.map((id) => ({
      channel: `$connection:${id}`,
      formats: { 'ws-message': { content: text } },
    }));
    const res = await fetch(`${controlUrl}/publish/`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ items }),
    });
    if (!res.ok) throw new Error(`publish answered ${res.status}: ${await res.text()}`);
  }

  const app = express();
  // thumbtack sends each client message as it came; read it as bytes whatever its type.
  app.use(express.raw({ type: () => true, limit: '1mb' }));
  app.set('etag', false);

  // Connect: answering `ok` accepts the WebSocket; any other body refuses it (403, that body).
  app.get('/chat/:clientId', (req, res) => {
    log(`GET /chat/${req.params.clientId}`);
    const token = /^Bearer (.+)$/.exec(req.get('authorization') ?? '')?.[1];
    const user = token === undefined ? undefined : users.get(token);
    if (!user) {
      res.type('text').send('unknown token');
      return;
    }
    clients.set(req.params.clientId, user);
    res.type('text').send('ok');
  });

  // A client message: relayed to everyone else; the answer body goes back to the sender.
  app.post('/chat/:clientId', async (req, res) => {
    const id = req.params.clientId;
    const text = Buffer.isBuffer(req.body) ? req.body.toString('utf8') : '';
    log(`POST /chat/${id} ${text}`);
    const user = clients.get(id);
    if (!user) {
      // Not from a connection this API accepted: an error answer closes it (1014).
      res.status(404).type('text').send('unknown client');
      return;
    }
    const others = [...clients.keys()].filter((other) => other !== id);
    await push(others, `${user}: ${text}`);
    res.type('text').send(`sent to ${others.length}`);
  });

  // Disconnect: forget the client. The answer is ignored.
  app.delete('/chat/:clientId', (req, res) => {
    log(`DELETE /chat/${req.params.clientId}`);
    clients.delete(req.params.clientId);
    res.status(204).end();
  });

  // Not routed through thumbtack: who is connected, and a push to one client by id.
  app.get('/admin/clients', (_req, res) => {
    res.json(Object.fromEntries(clients));
  });
  app.post('/admin/clients/:clientId', async (req, res) => {
    const id = req.params.clientId;
    if (!clients.has(id)) {
      res.status(404).type('text').send(`no client ${id}\n`);
      return;
    }
    await push([id], Buffer.isBuffer(req.body) ? req.body.toString('utf8') : '');
    res.type('text').send('sent\n');
  });

  return app;
}
