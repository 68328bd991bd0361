import { isIPv6 } from 'node:net';
import path from 'node:path';
import { RoutesSyntaxError } from '../errors.js';
import type { Route, RouteHeader, RouteProto, RouteTarget } from './route.js';

/** One `name[=value]` item of a section; `value` is undefined when there was no `=`. */
interface RawOption {
  name: string;
  value: string | undefined;
}

/** `value[,option]...`, with quotes already decoded. */
interface RawSection {
  value: string;
  options: RawOption[];
}

/** `flag-or-value`: bare, or with a value (`over_http`, `over_http=rest`). */
type OptionKind = 'flag' | 'value' | 'repeated' | 'flag-or-value';

// Map insertion order is the order the "known:" list shows in error messages.
const conditionOptions = new Map<string, OptionKind>([
  ['path_beg', 'value'],
  ['ssl', 'value'],
  ['proto', 'value'],
  ['id', 'value'],
  ['prefix', 'value'],
  ['sig_key', 'value'],
  ['sig_iss', 'value'],
  ['no_grip', 'flag'],
  ['path_rem', 'value'],
  ['replace_beg', 'value'],
  ['as_host', 'value'],
  ['header', 'repeated'],
  ['debug', 'flag'],
  ['log_level', 'value'],
  ['sse_resume', 'flag'],
  ['max_lifetime', 'value'],
]);

// Pushpin options thumbtack does not implement: refused so that none is silently ignored.
const unsupportedConditionOptions = new Set([
  'aco',
  'jsonp_mode',
  'jsonp_cb',
  'jsonp_body',
  'jsonp_defcb',
  'jsonp_defmethod',
  'session',
  'sockjs',
  'sockjs_as_path',
  'orig_headers',
]);

const targetOptions = new Map<string, OptionKind>([
  ['ssl', 'flag'],
  ['insecure', 'flag'],
  ['host', 'value'],
  ['over_http', 'flag-or-value'],
  ['sub', 'repeated'],
  ['trust_connect_host', 'flag'],
]);

const unsupportedTargetOptions = new Set([
  'one_event',
  'untrusted',
  'client_cert',
  'client_key',
  'ipc_file_mode',
]);

const hostNamePattern = /^[a-z0-9_.-]+$/i;
const domainPattern = /^[a-z0-9_.*-]+$/;
const headerNamePattern = /^[!#$%&'*+.^_`|~0-9a-z-]+$/i;
const wholeNumberPattern = /^[0-9]+$/;
const base64Pattern = /^[A-Za-z0-9+/_-]+={0,2}$/;

export interface ParseRoutesOptions {
  /** Directory relative `sig_key=file:` paths start from; default: the routes file's. */
  baseDir?: string;
}

/**
 * Parses a Pushpin routes file. Every problem throws a RoutesSyntaxError whose message
 * starts with `fileName:line: `. Routes with identical conditions are all returned; the
 * route table keeps the first and reports the others as warnings (as Pushpin does).
 */
export function parseRoutes(
  text: string,
  fileName: string,
  options: ParseRoutesOptions = {},
): Route[] {
  const baseDir = options.baseDir ?? path.dirname(path.resolve(fileName));
  const lines = text.replace(/^\uFEFF/, '').split(/\r?\n/);
  const routes: Route[] = [];
  const routesById = new Map<string, Route>();
  for (let i = 0; i < lines.length; i++) {
    const where = `${fileName}:${i + 1}`;
    const sections = splitLine(lines[i], where);
    if (sections.length === 0) continue;
    const route = interpretRoute(sections, fileName, i + 1, baseDir);
    const earlier = routesById.get(route.id);
    if (earlier === undefined) {
      routesById.set(route.id, route);
    } else if (earlier.hasExplicitId || route.hasExplicitId) {
      throw new RoutesSyntaxError(
        `${where}: route id "${route.id}" is already used on line ${earlier.line}`,
      );
    }
    // Equal default ids mean equal conditions: left to the table's duplicate warning.
    routes.push(route);
  }
  return routes;
}

function fail(where: string, message: string): never {
  throw new RoutesSyntaxError(`${where}: ${message}`);
}

/**
 * Splits a line into sections (separated by blanks), each into comma-separated items.
 * `#` outside quotes starts a comment; inside quotes only `\\` and `\"` are escapes.
 */
function splitLine(line: string, where: string): RawSection[] {
  const sections: RawSection[] = [];
  let at = 0;
  for (;;) {
    while (at < line.length && (line[at] === ' ' || line[at] === '\t')) at++;
    if (at >= line.length || line[at] === '#') return sections;
    const items: { text: string; equalsAt: number }[] = [];
    for (;;) {
      let text = '';
      let equalsAt = -1;
      while (at < line.length) {
        const ch = line[at];
        if (ch === ' ' || ch === '\t' || ch === '#' || ch === ',') break;
        if (ch === '"') {
          const quoteAt = at;
          at++;
          while (at < line.length && line[at] !== '"') {
            if (line[at] === '\\') {
              const escaped = line[at + 1];
              if (escaped !== '\\' && escaped !== '"') {
                fail(where, `bad escape "\\${escaped ?? ''}" inside quotes (only \\\\ and \\")`);
              }
              at++;
            }
            text += line[at];
            at++;
          }
          if (at >= line.length) fail(where, `unterminated quote at column ${quoteAt + 1}`);
          at++;
          continue;
        }
        // Only an unquoted `=` separates an option's name from its value.
        if (ch === '=' && equalsAt === -1) equalsAt = text.length;
        text += ch;
        at++;
      }
      items.push({ text, equalsAt });
      if (line[at] !== ',') break;
      at++;
    }
    sections.push(toSection(items, where));
  }
}

function toSection(items: { text: string; equalsAt: number }[], where: string): RawSection {
  // A first item with `=` is already an option: the section value was left out.
  const hasValue = items[0].equalsAt === -1;
  const section: RawSection = { value: hasValue ? items[0].text : '', options: [] };
  for (const item of items.slice(hasValue ? 1 : 0)) {
    if (item.text === '') {
      fail(where, 'expected an option after "," (not a blank, "," or end of line)');
    }
    if (item.equalsAt === 0) fail(where, `option "${item.text}" has no name`);
    section.options.push(
      item.equalsAt === -1
        ? { name: item.text, value: undefined }
        : { name: item.text.slice(0, item.equalsAt), value: item.text.slice(item.equalsAt + 1) },
    );
  }
  return section;
}

/** Checks option names, flag/value shape and repeats; returns the values by name. */
function collectOptions(
  options: RawOption[],
  kind: 'condition' | 'target',
  where: string,
): Map<string, string[]> {
  const known = kind === 'condition' ? conditionOptions : targetOptions;
  const unsupported = kind === 'condition' ? unsupportedConditionOptions : unsupportedTargetOptions;
  const values = new Map<string, string[]>();
  for (const { name, value } of options) {
    const optionKind = known.get(name);
    if (optionKind === undefined) {
      if (unsupported.has(name)) {
        fail(where, `${kind} option "${name}" is not supported by thumbtack`);
      }
      fail(where, `unknown ${kind} option "${name}"; known: ${[...known.keys()].join(', ')}`);
    }
    if (optionKind === 'flag' && value !== undefined) {
      fail(where, `${kind} option "${name}" takes no value (got "${name}=${value}")`);
    }
    if ((optionKind === 'value' || optionKind === 'repeated') && value === undefined) {
      fail(where, `${kind} option "${name}" needs a value (${name}=...)`);
    }
    const earlier = values.get(name);
    if (earlier !== undefined && optionKind !== 'repeated') {
      fail(where, `${kind} option "${name}" is given twice`);
    }
    values.set(name, [...(earlier ?? []), value ?? '']);
  }
  return values;
}

function interpretRoute(
  sections: RawSection[],
  fileName: string,
  line: number,
  baseDir: string,
): Route {
  const where = `${fileName}:${line}`;
  if (sections.length < 2) fail(where, 'a route needs a condition and at least one target');
  const condition = sections[0];
  const options = collectOptions(condition.options, 'condition', where);
  const single = (name: string): string | undefined => options.get(name)?.[0];
  const nonEmpty = (name: string): string | undefined => {
    const value = single(name);
    if (value === '') fail(where, `${name} cannot be empty`);
    return value;
  };

  const domain = interpretDomain(condition.value, where);
  const proto = interpretChoice(single('proto'), 'proto', ['http', 'ws'], where) as
    RouteProto | undefined;
  const ssl = interpretChoice(single('ssl'), 'ssl', ['yes', 'no'], where);
  const isSsl = ssl === undefined ? undefined : ssl === 'yes';

  const pathBeg = nonEmpty('path_beg');
  if (pathBeg !== undefined && !pathBeg.startsWith('/')) {
    fail(where, `path_beg "${pathBeg}" never matches: request paths start with "/"`);
  }

  const explicitId = nonEmpty('id');
  if (domain === undefined && explicitId === undefined) {
    fail(where, 'the condition has neither a domain nor an id=, so no request can reach it');
  }

  let pathRemove = 0;
  const pathRem = single('path_rem');
  if (pathRem !== undefined) {
    if (!wholeNumberPattern.test(pathRem)) {
      fail(where, `path_rem must be a whole number of bytes, not "${pathRem}"`);
    }
    pathRemove = Number(pathRem);
  }
  const replaceBeg = single('replace_beg');
  if (replaceBeg !== undefined) {
    if (pathBeg === undefined) fail(where, 'replace_beg needs path_beg (it replaces that prefix)');
    if (pathRem !== undefined) {
      fail(where, 'path_rem and replace_beg cannot be combined (replace_beg removes path_beg)');
    }
    pathRemove = pathBeg.length;
  }

  const asHost = nonEmpty('as_host');
  if (asHost !== undefined && !isHostAndPort(asHost)) {
    fail(where, `as_host must be host[:port], not "${asHost}"`);
  }

  const logLevelText = single('log_level');
  if (logLevelText !== undefined && !wholeNumberPattern.test(logLevelText)) {
    fail(where, `log_level must be a whole number, not "${logLevelText}"`);
  }

  const maxLifetimeText = single('max_lifetime');
  if (maxLifetimeText !== undefined && !wholeNumberPattern.test(maxLifetimeText)) {
    fail(where, `max_lifetime must be a whole number of seconds, not "${maxLifetimeText}"`);
  }

  const { setHeaders, removeHeaders } = interpretHeaders(options.get('header') ?? [], where);
  const targets = sections.slice(1).map((section) => interpretTarget(section, where));

  return {
    id: explicitId ?? defaultId(domain, proto, isSsl, pathBeg),
    hasExplicitId: explicitId !== undefined,
    fileName,
    line,
    domain,
    proto,
    isSsl,
    pathBeg,
    channelPrefix: single('prefix') ?? '',
    sigKey: interpretSigKey(nonEmpty('sig_key'), baseDir, where),
    sigIss: nonEmpty('sig_iss'),
    isNoGrip: options.has('no_grip'),
    pathRemove,
    replaceBeg,
    asHost,
    setHeaders,
    removeHeaders,
    isDebug: options.has('debug'),
    isSseResume: options.has('sse_resume'),
    logLevel: logLevelText === undefined ? undefined : Number(logLevelText),
    maxLifetime: maxLifetimeText === undefined ? undefined : Number(maxLifetimeText),
    targets,
  };
}

/** `*`, an exact host, a host with `*` wildcards, an `[ipv6]` literal, or nothing. */
function interpretDomain(value: string, where: string): string | undefined {
  if (value === '') return undefined;
  const domain = value.toLowerCase();
  if (domain.startsWith('[') && domain.endsWith(']') && isIPv6(domain.slice(1, -1))) {
    return domain;
  }
  if (domain.includes(':')) {
    fail(where, `domain "${value}" must not include a port (requests match on host only)`);
  }
  if (!domainPattern.test(domain)) fail(where, `domain "${value}" is not a host name`);
  return domain;
}

function interpretChoice(
  value: string | undefined,
  name: string,
  choices: string[],
  where: string,
): string | undefined {
  if (value === undefined || choices.includes(value)) return value;
  return fail(where, `${name} must be ${choices.join(' or ')}, not "${value}"`);
}

/** Pushpin's form, except that `ssl=yes` reads `ssl` (Pushpin swaps the two words). */
function defaultId(
  domain: string | undefined,
  proto: RouteProto | undefined,
  isSsl: boolean | undefined,
  pathBeg: string | undefined,
): string {
  const ssl = isSsl === undefined ? '*' : isSsl ? 'ssl' : 'no-ssl';
  return `${domain ?? '*'},${proto ?? '*'},${ssl},${pathBeg ?? '*'}`;
}

/** Relative `file:` keys are resolved now, so the route means the same from any cwd. */
function interpretSigKey(
  value: string | undefined,
  baseDir: string,
  where: string,
): string | undefined {
  if (value === undefined) return undefined;
  if (value.startsWith('file:')) {
    const keyPath = value.slice('file:'.length);
    if (keyPath === '') fail(where, 'sig_key=file: needs a path');
    return `file:${path.resolve(baseDir, keyPath)}`;
  }
  if (value.startsWith('base64:') && !base64Pattern.test(value.slice('base64:'.length))) {
    fail(where, `sig_key "${value}" is not valid base64`);
  }
  return value;
}

function interpretHeaders(
  values: string[],
  where: string,
): { setHeaders: RouteHeader[]; removeHeaders: string[] } {
  const setHeaders: RouteHeader[] = [];
  const removeHeaders: string[] = [];
  const seen = new Set<string>();
  for (const text of values) {
    const colonAt = text.indexOf(':');
    if (colonAt < 1) fail(where, `header must be Name:value, not "${text}"`);
    const name = text.slice(0, colonAt).toLowerCase();
    // Pushpin trims the left of the value; the right can only be blank through quotes.
    const value = text.slice(colonAt + 1).trim();
    if (!headerNamePattern.test(name)) {
      fail(where, `header name "${text.slice(0, colonAt)}" is not a valid HTTP header name`);
    }
    if (/[\0\r\n]/.test(value)) fail(where, `header "${name}" value contains a control character`);
    // Each entry replaces the header, so a second one for the same name would hide the first.
    if (seen.has(name)) fail(where, `header "${name}" is given twice`);
    seen.add(name);
    if (value === '') removeHeaders.push(name);
    else setHeaders.push({ name, value });
  }
  return { setHeaders, removeHeaders };
}

function interpretTarget(section: RawSection, where: string): RouteTarget {
  const { value } = section;
  if (value === 'test') fail(where, 'the built-in "test" target is not supported by thumbtack');
  if (value.startsWith('zhttp/') || value.startsWith('zhttpreq/')) {
    fail(where, `ZeroMQ targets ("${value}") are not supported by thumbtack`);
  }
  if (value === '') fail(where, 'a target needs an address (host:port)');

  let host: string;
  let portText: string;
  if (value.startsWith('[')) {
    const closeAt = value.indexOf(']:');
    if (closeAt === -1) fail(where, `target "${value}" must be [ipv6]:port`);
    host = value.slice(1, closeAt);
    portText = value.slice(closeAt + 2);
    if (!isIPv6(host)) fail(where, `target "${value}" does not hold a valid IPv6 address`);
  } else {
    const colonAt = value.indexOf(':');
    if (colonAt === -1) fail(where, `target "${value}" needs a port (host:port)`);
    host = value.slice(0, colonAt);
    portText = value.slice(colonAt + 1);
    if (portText.includes(':')) {
      fail(where, `target "${value}" looks like an IPv6 address: write it as [address]:port`);
    }
    if (!hostNamePattern.test(host)) fail(where, `target "${value}" has no valid host`);
  }
  const port = Number(portText);
  if (!/^[0-9]{1,5}$/.test(portText) || port < 1 || port > 65535) {
    fail(where, `target "${value}" has an invalid port (1-65535)`);
  }

  const options = collectOptions(section.options, 'target', where);
  const hostHeader = options.get('host')?.[0];
  if (hostHeader !== undefined && !isHostAndPort(hostHeader)) {
    fail(where, `target host= must be host[:port], not "${hostHeader}"`);
  }
  const overHttp = options.get('over_http')?.[0];
  if (overHttp !== undefined && overHttp !== '' && overHttp !== 'rest') {
    fail(where, `over_http takes no value or "rest" (ws2api's REST calls), not "${overHttp}"`);
  }
  const subscriptions = options.get('sub') ?? [];
  if (subscriptions.includes('')) fail(where, `target "${value}" has an empty sub=`);

  return {
    host,
    port,
    isSsl: options.has('ssl'),
    isInsecure: options.has('insecure'),
    hostHeader,
    isTrustConnectHost: options.has('trust_connect_host'),
    isOverHttp: overHttp !== undefined,
    isRest: overHttp === 'rest',
    subscriptions,
  };
}

/** `host`, `host:port`, `[ipv6]` or `[ipv6]:port`, port 1-65535. */
function isHostAndPort(text: string): boolean {
  const match = /^(?:\[([^\]]+)\]|([^:[\]]+))(?::([0-9]{1,5}))?$/.exec(text);
  if (match === null) return false;
  const [, ipv6, name, port] = match;
  if (ipv6 !== undefined && !isIPv6(ipv6)) return false;
  if (name !== undefined && !hostNamePattern.test(name)) return false;
  return port === undefined || (Number(port) >= 1 && Number(port) <= 65535);
}
