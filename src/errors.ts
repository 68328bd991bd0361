/** Every error thumbtack raises on purpose carries a stable `code` callers can switch on. */
export class ThumbtackError extends Error {
  readonly code: string;
  constructor(code: string, message: string) {
    super(message);
    this.code = code;
    this.name = new.target.name;
  }
}

/** A setting (flag, environment variable or config file key) has a bad value. */
export class ConfigError extends ThumbtackError {
  constructor(message: string) {
    super('E_CONFIG', message);
  }
}

/** A routes file line cannot be understood; the message starts with `file:line`. */
export class RoutesSyntaxError extends ThumbtackError {
  constructor(message: string) {
    super('E_ROUTES_SYNTAX', message);
  }
}

/** A backend sent GRIP instructions that cannot be followed. */
export class GripInstructError extends ThumbtackError {
  /**
   * Where the problem is, for the operator: a header name (`Grip-Link`, `Content-Encoding`)
   * or `application/grip-instruct body`.
   */
  readonly source: string;
  constructor(source: string, message: string) {
    super('E_GRIP_INSTRUCT', message);
    this.source = source;
  }
}

/** A publish item (HTTP, ZeroMQ, Redis) does not have the shape Pushpin accepts. */
export class PublishFormatError extends ThumbtackError {
  constructor(message: string) {
    super('E_PUBLISH_FORMAT', message);
  }
}

/** A WebSocket-over-HTTP event body cannot be decoded. */
export class WsEventsError extends ThumbtackError {
  constructor(message: string) {
    super('E_WS_EVENTS', message);
  }
}

/** A tnetstring (ZeroMQ publish items, command requests) is malformed. */
export class TnetstringError extends ThumbtackError {
  constructor(message: string) {
    super('E_TNETSTRING', message);
  }
}

/** A WebSocket `c:` control message from a backend cannot be understood; it is ignored. */
export class WsControlError extends ThumbtackError {
  constructor(message: string) {
    super('E_WS_CONTROL', message);
  }
}

/** Redis did not take a publish (unreachable, or it refused): the publisher should retry. */
export class RedisUnavailableError extends ThumbtackError {
  constructor(message: string) {
    super('E_REDIS_UNAVAILABLE', message);
  }
}

/** A `pushpin.conf` line that is not a section, a `key=value` pair, a comment or blank. */
export class PushpinConfSyntaxError extends ThumbtackError {
  constructor(message: string) {
    super('E_PUSHPIN_CONF_SYNTAX', message);
  }
}

/** A `body-patch` that cannot be applied to a held response's body. */
export class BodyPatchError extends ThumbtackError {
  constructor(message: string) {
    super('E_BODY_PATCH', message);
  }
}
