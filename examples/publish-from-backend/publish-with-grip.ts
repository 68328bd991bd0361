import {
  HttpResponseFormat,
  HttpStreamFormat,
  Publisher,
  WebSocketMessageFormat,
} from '@fanoutio/grip';

// `node dist/examples/publish-from-backend/publish-with-grip.js [message]`: one publish to
// "news" with @fanoutio/grip, as a backend would make it. GRIP_URL names the publish API
// and its credentials (`http://127.0.0.1:5561?iss=backend&key=secret` for a JWT).
const message = process.argv[2] ?? 'hello from @fanoutio/grip';
const publisher = new Publisher(process.env['GRIP_URL'] ?? 'http://127.0.0.1:5561');
await publisher.publishFormats('news', [
  new HttpStreamFormat(`data: ${message}\n\n`), // SSE clients: one event
  new HttpResponseFormat({ body: `${message}\n` }), // long-polls: the whole answer
  new WebSocketMessageFormat(message), // WebSockets: one text message
]);
console.log('Published');
