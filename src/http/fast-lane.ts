/**
 * The fast lane: plain forward-auth requests parsed and answered without node:http's per-request machinery.
 *
 * A proxy's forward-auth request is a small, bodiless GET on a keep-alive connection, and node:http spends
 * more CPU on one (an `IncomingMessage` and a `ServerResponse`, both streams, a socket timer re-armed per
 * request, several callbacks through its parser binding) than gatehouse spends deciding it. The lane reads
 * each connection itself and takes a request only when its head is in the strict, simple form proxies send:
 *
 * - a request line `METHOD target HTTP/1.1` with a common method and a target of URI characters only;
 * - header lines `name: value`, names of token characters, values without control characters, each name at
 *   most once, exactly one `Host`, at most {@link MAX_FIELDS} of them;
 * - no body: no `Transfer-Encoding`, a `Content-Length` of `0` if any; no `Expect`, no `Upgrade`, and a
 *   `Connection` of `keep-alive` or `close` if any.
 *
 * Anything else (a body, HTTP/1.0, a folded or repeated header, a bad character, a head above the size
 * limit) is never guessed at: from that request on, the connection is handed to node:http, which parses the
 * rest exactly as if it had had the connection from the start and answers errors itself. So the lane accepts
 * a subset of what node:http accepts and reads it the same way; the tests compare the two on every case.
 * The handler sees the same fields of a request (method, url, headers, rawHeaders, socket) either way.
 */
import { STATUS_CODES, validateHeaderName, validateHeaderValue, type IncomingHttpHeaders, type IncomingMessage, type Server } from 'node:http';
import type { Socket } from 'node:net';

/** Header lines above this many go to node:http (its default limit is 2000). */
export const MAX_FIELDS = 100;

/** What the lane needs to know of the listener's limits (milliseconds and bytes). */
export interface FastLaneLimits {
  readonly maxHeaderSize: number;
  readonly headersTimeout: number;
  readonly keepAliveTimeout: number;
}

/** A request as the handler sees it: the fields of `IncomingMessage` gatehouse reads. */
export class FastRequest {
  readonly httpVersion = '1.1';
  /** As in node:http: false while the handler is first called, true once it returns (there is no body). */
  complete = false;
  constructor(
    readonly method: string,
    readonly url: string,
    readonly headers: IncomingHttpHeaders,
    readonly rawHeaders: string[],
    readonly socket: Socket,
  ) {}

  /** A bodiless request: `end` comes on the next microtask, `data` and `error` never. */
  on(event: string, listener: (...args: never[]) => void): this {
    if (event === 'end') queueMicrotask(listener);
    return this;
  }

  once(event: string, listener: (...args: never[]) => void): this {
    return this.on(event, listener);
  }

  resume(): this {
    return this;
  }
}

// Token characters (RFC 9110 §5.6.2), request-target characters (RFC 3986: unreserved, sub-delims, ":@/?%",
// and "[]" of IP literals), as tables indexed by character code.
const TCHAR = new Uint8Array(128);
for (const char of "!#$%&'*+-.^_`|~0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ") TCHAR[char.charCodeAt(0)] = 1;
const URICHAR = new Uint8Array(128);
for (const char of "-._~!$&'()*+,;=:@/?%[]0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ") URICHAR[char.charCodeAt(0)] = 1;
// Control characters other than HTAB, and DEL: never in a field value. CR and LF are the line ends.
// eslint-disable-next-line no-control-regex
const BAD_VALUE = /[\x00-\x08\x0a-\x1f\x7f]/;
// A response header value of printable ASCII only (node:http's own check allows Latin-1 too).
const NOT_PLAIN = /[^\t\x20-\x7e]/;

const EMPTY = Buffer.alloc(0);
const REQUEST_TIMEOUT = 'HTTP/1.1 408 Request Timeout\r\nConnection: close\r\n\r\n';
const BAD_REQUEST = 'HTTP/1.1 400 Bad Request\r\nConnection: close\r\n\r\n';

/** A head that has not come whole in this many reads goes to node:http, which parses as bytes arrive. */
const MAX_PIECES = 8;
/**
 * A head begun this long ago and still not whole goes to node:http too. It keeps the deadline it had here
 * ({@link FastLane.give}), so a head trickled in gets no more time than node:http alone would give it.
 */
const SLOW_HEAD_MS = 2000;
const VERSION = 'HTTP/1.1';
/** The methods the lane takes; anything else (CONNECT, TRACE, WebDAV's) goes to node:http. */
const LANE_METHODS = new Set(['GET', 'HEAD', 'POST', 'PUT', 'DELETE', 'PATCH', 'OPTIONS']);
const METHOD_PREFIXES = new Set([...LANE_METHODS].flatMap((method) => Array.from({ length: method.length }, (_, index) => method.slice(0, index))));

/** Whether `text[start, end)` holds request-target characters only. */
function isUriText(text: string, start = 0, end = text.length): boolean {
  for (let index = start; index < end; index++) {
    const code = text.charCodeAt(index);
    if (code > 127 || URICHAR[code] === 0) return false;
  }
  return true;
}

/** Whether `line` (without its CRLF; `whole` when the CRLF has come) can still be a request line of the lane's form. */
function viableRequestLine(line: string, whole: boolean): boolean {
  if (!whole && line.endsWith('\r')) return viableRequestLine(line.slice(0, -1), true);
  const space = line.indexOf(' ');
  if (space === -1) return !whole && METHOD_PREFIXES.has(line);
  if (!LANE_METHODS.has(line.slice(0, space))) return false;
  const space2 = line.indexOf(' ', space + 1);
  const target = space2 === -1 ? line.slice(space + 1) : line.slice(space + 1, space2);
  if ((target !== '' && target.charCodeAt(0) !== 47) || !isUriText(target)) return false;
  if (space2 === -1) return !whole;
  const version = line.slice(space2 + 1);
  return target !== '' && (whole ? version === VERSION : VERSION.startsWith(version));
}

/** Whether `line` can still be a header line of the lane's form. */
function viableFieldLine(line: string, whole: boolean): boolean {
  if (!whole && line.endsWith('\r')) return line.length === 1 || viableFieldLine(line.slice(0, -1), true);
  const colon = line.indexOf(':');
  if (colon === -1) return !whole && (line === '' || isToken(line));
  const name = line.slice(0, colon);
  const value = line.slice(colon + 1);
  if (colon === 0 || !isToken(name) || BAD_VALUE.test(value)) return false;
  // Framing the lane leaves to node:http goes there as soon as its line arrives, so node:http refuses a bad
  // one (`Content-Length: x`, chunked with another coding) as soon as it would have.
  const kind = kindOf(name.toLowerCase());
  if (kind === Kind.Refused) return false;
  if (kind === Kind.ContentLength) {
    const length = value.replace(/^[ \t]+/, '').replace(/[ \t]+$/, '');
    return whole ? length === '0' : length === '' || length === '0';
  }
  return true;
}

/**
 * False when `text`, a head not yet whole, can no longer become one the lane takes. Such a connection goes
 * to node:http at once, so a request node:http refuses as soon as a bad byte arrives is refused as soon.
 */
function viablePrefix(text: string): boolean {
  const lineEnd = text.indexOf('\r\n');
  if (lineEnd === -1) return viableRequestLine(text, false);
  if (!viableRequestLine(text.slice(0, lineEnd), true)) return false;
  let at = lineEnd + 2;
  for (;;) {
    const next = text.indexOf('\r\n', at);
    if (next === -1) return viableFieldLine(text.slice(at), false);
    if (!viableFieldLine(text.slice(at, next), true)) return false;
    at = next + 2;
  }
}

/** What a header name means to the lane. */
const enum Kind {
  Plain,
  Host,
  ContentLength,
  Connection,
  /** A header the lane leaves to node:http: framing, upgrades, `Expect`, and `__proto__`. */
  Refused,
}

interface FieldName {
  /** The name as received, a string of its own. */
  readonly raw: string;
  /** The lower-case name, internalized: a property key V8 need not look up in its string table. */
  readonly name: string;
  readonly kind: Kind;
}

/**
 * Header names as received (any case) to their checked, lower-case form. A proxy sends the same dozen
 * names on every request; using a name that is not internalized as a property key makes V8 look it up in
 * its string table every time, which cost more than the rest of the parse. Bounded: a client sending ever
 * new names only fills it.
 */
const NAMES = new Map<string, FieldName>();
const MAX_NAMES = 1000;
/** Names longer than this are never kept (a client could otherwise park 1000 long ones in memory). */
const MAX_CACHED_NAME = 64;

function kindOf(name: string): Kind {
  switch (name) {
    case 'host':
      return Kind.Host;
    case 'content-length':
      return Kind.ContentLength;
    case 'connection':
      return Kind.Connection;
    // Set-Cookie: node:http gives a request's as a list, even when it comes once.
    case 'transfer-encoding':
    case 'expect':
    case 'upgrade':
    case 'set-cookie':
    case 'http2-settings':
    case '__proto__':
      return Kind.Refused;
    default:
      return Kind.Plain;
  }
}

/** The entry of the name at `bytes[start, end)` (`seen` is that text), or undefined when it is not a token. */
function fieldName(seen: string, bytes: Buffer, start: number, end: number): FieldName | undefined {
  const known = NAMES.get(seen);
  if (known !== undefined) return known;
  if (!isToken(seen)) return undefined;
  const raw = bytes.toString('latin1', start, end);
  const lower = raw.toLowerCase();
  const cached = NAMES.size < MAX_NAMES && raw.length <= MAX_CACHED_NAME;
  // A computed property key is internalized; reading it back gives the internalized string.
  const name = cached ? (Object.keys({ [lower]: 0 })[0] ?? lower) : lower;
  const entry: FieldName = { raw, name, kind: kindOf(name) };
  if (cached) NAMES.set(raw, entry);
  return entry;
}

function isToken(text: string): boolean {
  if (text.length === 0) return false;
  for (let index = 0; index < text.length; index++) {
    const code = text.charCodeAt(index);
    if (code > 127 || TCHAR[code] === 0) return false;
  }
  return true;
}

let dateSecond = -1;
let dateText = '';
/** The `Date` header's value, made once a second. */
function httpDate(): string {
  const now = Date.now();
  const second = Math.floor(now / 1000);
  if (second !== dateSecond) {
    dateSecond = second;
    dateText = new Date(second * 1000).toUTCString();
  }
  return dateText;
}

type Handler = (request: FastRequest, response: FastResponse) => void;

/** A response as the handler writes it: the parts of `ServerResponse` gatehouse uses. */
export class FastResponse {
  statusCode = 200;
  headersSent = false;
  writableEnded = false;
  private head = '';
  private plain = true;
  /** Whether the handler's headers give the length. */
  private framed = false;
  private finishListeners: (() => void)[] | undefined;

  constructor(
    readonly req: FastRequest,
    readonly connection: FastConnection,
    private readonly closeAfter: boolean,
  ) {}

  /** Headers as a flat name/value list; checked as node:http checks them. */
  writeHead(status: number, headers?: readonly (string | number | readonly string[] | undefined)[]): this {
    if (this.headersSent) throw new Error('Cannot write headers after they are sent to the client');
    if (!Number.isInteger(status) || status < 100 || status > 999) throw new RangeError(`Invalid status code: ${status}`);
    let head = '';
    let plain = true;
    let framed = false;
    const add = (name: string, value: string | number | readonly string[] | undefined) => {
      // node:http's own checks, with its errors (ERR_INVALID_HTTP_TOKEN, ERR_INVALID_CHAR).
      validateHeaderName(name);
      if (value === undefined) throw new TypeError(`Invalid value "undefined" for header "${name}"`);
      const lower = name.toLowerCase();
      // The lane writes these itself; a handler never sets them.
      if (lower === 'connection' || lower === 'transfer-encoding' || lower === 'date' || lower === 'keep-alive') throw new TypeError(`Header "${name}" is set by the server`);
      if (lower === 'content-length') framed = true;
      const values = typeof value === 'object' ? value : [value];
      for (const one of values) {
        const text = String(one);
        if (NOT_PLAIN.test(text)) {
          validateHeaderValue(name, text);
          plain = false;
        }
        head += `${name}: ${text}\r\n`;
      }
    };
    if (headers !== undefined) {
      for (let index = 0; index + 1 < headers.length; index += 2) add(String(headers[index]), headers[index + 1]);
    }
    this.statusCode = status;
    this.head = head;
    this.plain = plain;
    this.framed = framed;
    this.headersSent = true;
    return this;
  }

  /** Finishes the answer in one write (a string body, UTF-8). */
  end(body?: string | Buffer, encoding?: BufferEncoding): this {
    if (this.writableEnded) return this;
    const text = body === undefined ? '' : body;
    if (!this.headersSent) this.writeHead(this.statusCode, ['content-length', String(typeof text === 'string' ? Buffer.byteLength(text, encoding ?? 'utf8') : text.length)]);
    this.writableEnded = true;
    const status = this.statusCode;
    const closing = this.closeAfter || this.connection.closing;
    const bodiless = status === 204 || status === 304 || status < 200;
    // Headers without a length: the lane gives it (node:http would send the body chunked).
    const length = this.framed || bodiless ? '' : `Content-Length: ${typeof text === 'string' ? Buffer.byteLength(text, encoding ?? 'utf8') : text.length}\r\n`;
    const start = `HTTP/1.1 ${status} ${STATUS_CODES[status] ?? 'unknown'}\r\n${this.head}${length}Date: ${httpDate()}\r\n${closing ? 'Connection: close\r\n' : this.connection.lane.keepAlive}\r\n`;
    const omitBody = this.req.method === 'HEAD' || bodiless;
    this.connection.write(start, this.plain, omitBody ? '' : text, encoding, closing);
    const listeners = this.finishListeners;
    if (listeners !== undefined) {
      this.finishListeners = undefined;
      process.nextTick(() => {
        for (const listener of listeners) listener();
      });
    }
    this.connection.answered(this);
    return this;
  }

  /** `finish` is emitted once the answer is handed to the socket; other events never come. */
  once(event: string, listener: () => void): this {
    if (event !== 'finish') return this;
    if (this.writableEnded) process.nextTick(listener);
    else (this.finishListeners ??= []).push(listener);
    return this;
  }

  on(event: string, listener: () => void): this {
    return this.once(event, listener);
  }
}

/** One connection while the lane has it. */
class FastConnection {
  /** What has come and is not yet parsed, as text (Latin-1, one character a byte) and as the bytes. */
  private buffer = '';
  private bytes: Buffer = EMPTY;
  /** When the current incomplete head began (ms), 0 when none is pending. */
  partialSince = 0;
  /** How many reads brought parts of the current head. */
  private pieces = 0;
  lastActive: number;
  /** The answer being worked on, if the handler has not finished it yet. */
  pending: FastResponse | undefined;
  /** Set when the connection is to close after the current answer (`Connection: close`, a shutdown). */
  closing = false;
  /** Set when the client has sent its last byte: answer what is complete, then close. */
  private ended = false;
  private inHandler = false;
  private gone = false;
  /** Set while answers wait in the socket's buffer for the client to read them. */
  private blocked = false;
  /** Set while the lane has stopped reading the socket. */
  private paused = false;

  constructor(
    readonly socket: Socket,
    readonly lane: FastLane,
  ) {
    this.lastActive = lane.clock;
    // A new connection must send a whole head within headersTimeout, as under node:http.
    this.partialSince = Date.now();
    socket.setNoDelay(true);
    socket.on('data', this.onData);
    socket.on('end', this.onEnd);
    socket.on('error', this.onError);
    socket.on('close', this.onClose);
  }

  private readonly onData = (chunk: Buffer): void => {
    if (this.buffer === '') {
      this.buffer = chunk.toString('latin1');
      this.bytes = chunk;
    } else {
      this.buffer += chunk.toString('latin1');
      this.bytes = Buffer.concat([this.bytes, chunk]);
    }
    this.lastActive = this.lane.clock;
    this.drain();
  };

  private readonly onEnd = (): void => {
    this.ended = true;
    if (this.pending === undefined) this.drain();
  };

  private readonly onError = (): void => {
    this.socket.destroy();
  };

  private readonly onClose = (): void => {
    this.gone = true;
    this.lane.connections.delete(this);
  };

  /** Parses and answers every complete request in the buffer, in order, one at a time. */
  private drain(): void {
    while (this.pending === undefined && !this.blocked && !this.gone && !this.closing && this.buffer !== '') {
      const end = this.buffer.indexOf('\r\n\r\n');
      if (end === -1) {
        // Part of a head: kept only while it can still become one the lane takes, for a few reads. (After
        // the client's end of input nothing can be handed over: the end answers it below.)
        if (!this.ended && (++this.pieces > MAX_PIECES || this.buffer.length > this.lane.limits.maxHeaderSize || !viablePrefix(this.buffer))) {
          this.handOff();
          return;
        }
        if (this.partialSince === 0) this.partialSince = Date.now();
        break;
      }
      const parsed = end + 4 > this.lane.limits.maxHeaderSize ? undefined : parseHead(this.buffer, this.bytes, end, this.socket);
      if (parsed === undefined) {
        if (this.ended) break;
        this.handOff();
        return;
      }
      if (end + 4 === this.buffer.length) {
        this.buffer = '';
        this.bytes = EMPTY;
      } else {
        this.buffer = this.buffer.slice(end + 4);
        this.bytes = this.bytes.subarray(end + 4);
      }
      this.partialSince = 0;
      this.pieces = 0;
      const response = new FastResponse(parsed.request, this, parsed.close);
      this.pending = response;
      this.inHandler = true;
      try {
        this.lane.handler(parsed.request, response);
        parsed.request.complete = true;
      } catch {
        // Handlers answer their own errors; one that throws anyway leaves nothing to answer with.
        if (!response.writableEnded) {
          this.socket.destroy();
          return;
        }
      } finally {
        this.inHandler = false;
      }
      // The handler may have answered already (`answered` clears `pending`). If not, pipelined requests
      // wait in the buffer, in order, until it does; the socket is read on (stopping and restarting it for
      // every such answer cost more than the rest of the lane) unless they pile up.
      if ((this.pending as FastResponse | undefined) !== undefined) break;
    }
    if (this.pending !== undefined || this.blocked) {
      if (this.blocked || this.buffer.length > this.lane.limits.maxHeaderSize) this.hold();
      return;
    }
    if (this.buffer === '') this.partialSince = 0;
    // The client has sent its last request and every complete one is answered; what is left is refused as
    // node:http refuses a head cut short.
    if (this.ended && !this.gone && !this.closing) {
      this.closing = true;
      if (this.buffer !== '') this.socket.write(BAD_REQUEST);
      this.socket.destroySoon();
    }
  }

  /** Stops reading the socket. */
  private hold(): void {
    if (this.paused) return;
    this.paused = true;
    this.socket.pause();
  }

  /** Reads the socket again, if {@link hold} stopped it. */
  private release(): void {
    if (!this.paused) return;
    this.paused = false;
    this.socket.resume();
  }

  write(head: string, plain: boolean, body: string | Buffer, encoding: BufferEncoding | undefined, closing: boolean): void {
    if (this.gone || this.socket.destroyed) return;
    if (body === '' || body.length === 0) this.socket.write(head, 'latin1');
    else if (plain && typeof body === 'string' && (encoding === undefined || encoding === 'utf8')) this.socket.write(head + body, 'utf8');
    else {
      this.socket.cork();
      this.socket.write(head, 'latin1');
      if (typeof body === 'string') this.socket.write(body, encoding ?? 'utf8');
      else this.socket.write(body);
      this.socket.uncork();
    }
    if (closing) {
      this.closing = true;
      this.socket.destroySoon();
    } else if (this.socket.writableNeedDrain && !this.blocked) {
      // The client is not reading its answers: read no more requests until it does.
      this.blocked = true;
      this.socket.once('drain', this.onDrain);
    }
  }

  private readonly onDrain = (): void => {
    this.blocked = false;
    if (this.pending !== undefined || this.gone || this.closing) return;
    this.release();
    this.drain();
  };

  /** The handler finished `response`: go on with the next request, if any. */
  answered(response: FastResponse): void {
    if (this.pending !== response) return;
    this.pending = undefined;
    this.lastActive = this.lane.clock;
    if (this.inHandler || this.gone || this.closing || this.blocked) return;
    this.release();
    this.drain();
  }

  /** Gives the connection, from the current request on, to node:http. */
  private handOff(): void {
    const socket = this.socket;
    // node:http reads a socket that flows; one the lane stopped would never be read again.
    this.release();
    socket.removeListener('data', this.onData);
    socket.removeListener('end', this.onEnd);
    socket.removeListener('error', this.onError);
    socket.removeListener('close', this.onClose);
    socket.removeListener('drain', this.onDrain);
    this.lane.connections.delete(this);
    this.gone = true;
    // A head not yet whole keeps the deadline it had here: node:http's own timer starts afresh.
    const headBegun = this.buffer !== '' && this.buffer.indexOf('\r\n\r\n') === -1 ? this.partialSince : 0;
    const rest = this.buffer === '' ? EMPTY : this.bytes;
    this.buffer = '';
    this.bytes = EMPTY;
    try {
      if (rest.length > 0) socket.unshift(rest);
    } catch {
      socket.destroy();
      return;
    }
    this.lane.give(socket, headBegun);
  }

  /** A head is arriving slowly: node:http takes it (a connection that has sent nothing stays). */
  slowHead(): void {
    if (this.buffer !== '' && this.pending === undefined && !this.gone && !this.closing && !this.ended) this.handOff();
  }

  /** Closes the connection if it is between requests; else once the current answer is written. */
  closeIfIdle(): void {
    if (this.pending !== undefined || this.closing) {
      this.closing = true;
      return;
    }
    this.closing = true;
    this.socket.destroySoon();
  }
}

/** The lane of one listener. */
export class FastLane {
  readonly connections = new Set<FastConnection>();
  /** A coarse clock (ms), advanced by the sweep: timeouts are checked once a second, as node:http does. */
  clock = Date.now();
  /** The keep-alive lines of every answer on a connection that stays open. */
  readonly keepAlive: string;
  private readonly sweep: NodeJS.Timeout;

  /** Sockets handed over within a head, and the timer that ends them at that head's deadline. */
  private readonly unfinished = new Map<Socket, NodeJS.Timeout>();

  constructor(
    readonly handler: Handler,
    readonly limits: FastLaneLimits,
    private readonly toNode: (socket: Socket) => void,
  ) {
    this.keepAlive = `Connection: keep-alive\r\nKeep-Alive: timeout=${Math.floor(limits.keepAliveTimeout / 1000)}\r\n`;
    this.sweep = setInterval(() => this.check(), 1000);
    this.sweep.unref();
  }

  /** Hands `socket` to node:http; `headBegun` is when the head it is in the middle of began (0: none). */
  give(socket: Socket, headBegun: number): void {
    if (headBegun !== 0) {
      const timer = setTimeout(
        () => {
          this.unfinished.delete(socket);
          if (socket.destroyed) return;
          socket.write(REQUEST_TIMEOUT);
          socket.destroySoon();
        },
        Math.max(0, headBegun + this.limits.headersTimeout - Date.now()),
      );
      timer.unref();
      this.unfinished.set(socket, timer);
      socket.once('close', () => this.headDone(socket));
    }
    this.toNode(socket);
  }

  /** node:http has read the whole head `socket` was handed over in (or the socket closed). */
  headDone(socket: Socket): void {
    const timer = this.unfinished.get(socket);
    if (timer === undefined) return;
    clearTimeout(timer);
    this.unfinished.delete(socket);
  }

  accept(socket: Socket): void {
    this.connections.add(new FastConnection(socket, this));
  }

  /** Cuts a head trickled in for longer than `headersTimeout` (408, as node:http) and idle connections. */
  private check(): void {
    const now = (this.clock = Date.now());
    for (const connection of this.connections) {
      if (connection.pending !== undefined) continue;
      if (connection.partialSince !== 0) {
        if (now - connection.partialSince > this.limits.headersTimeout) {
          connection.closing = true;
          connection.socket.write(REQUEST_TIMEOUT);
          connection.socket.destroySoon();
        } else if (now - connection.partialSince >= SLOW_HEAD_MS) connection.slowHead();
      } else if (now - connection.lastActive > this.limits.keepAliveTimeout) {
        connection.socket.destroy();
      }
    }
  }

  /** Closes every connection between requests; the others after their answer. */
  closeIdle(): void {
    for (const connection of this.connections) connection.closeIfIdle();
  }

  /** Cuts every connection. */
  closeAll(): void {
    for (const connection of this.connections) connection.socket.destroy();
  }

  stop(): void {
    clearInterval(this.sweep);
  }
}

interface Parsed {
  readonly request: FastRequest;
  readonly close: boolean;
}

/**
 * `text[start, end)` as a string of its own. V8 makes a longer slice a view that keeps the whole text alive,
 * and header values end up in long-lived caches (a cookie, a token, a forwarded chain): each would hold a
 * whole request head. So longer ones are decoded from the bytes; V8 copies a slice of up to 12 characters.
 */
function piece(text: string, bytes: Buffer, start: number, end: number): string {
  return end - start > 12 ? bytes.toString('latin1', start, end) : text.slice(start, end);
}

/** The request whose head is `text[0, end)`, or undefined when it is not in the lane's simple form. */
function parseHead(text: string, bytes: Buffer, end: number, socket: Socket): Parsed | undefined {
  const lineEnd = text.indexOf('\r\n');
  const space = text.indexOf(' ');
  if (space <= 0 || space > lineEnd) return undefined;
  const method = text.slice(0, space);
  if (!LANE_METHODS.has(method)) return undefined;
  const space2 = text.indexOf(' ', space + 1);
  if (space2 === -1 || space2 > lineEnd || lineEnd - space2 !== 9 || !text.startsWith('HTTP/1.1', space2 + 1)) return undefined;
  // Origin form only (`/path?query`); absolute and asterisk forms go to node:http.
  if (space2 === space + 1 || text.charCodeAt(space + 1) !== 47 || !isUriText(text, space + 1, space2)) return undefined;
  const url = piece(text, bytes, space + 1, space2);
  const headers: IncomingHttpHeaders = {};
  const rawHeaders: string[] = [];
  let close = false;
  let hosts = 0;
  let at = lineEnd + 2;
  let fields = 0;
  while (at < end) {
    let next = text.indexOf('\r\n', at);
    if (next === -1 || next > end) next = end;
    const colon = text.indexOf(':', at);
    if (colon === -1 || colon > next || colon === at) return undefined;
    if (++fields > MAX_FIELDS) return undefined;
    const field = fieldName(text.slice(at, colon), bytes, at, colon);
    if (field === undefined || field.kind === Kind.Refused) return undefined;
    let valueStart = colon + 1;
    let valueEnd = next;
    while (valueStart < valueEnd && (text.charCodeAt(valueStart) === 32 || text.charCodeAt(valueStart) === 9)) valueStart++;
    while (valueEnd > valueStart && (text.charCodeAt(valueEnd - 1) === 32 || text.charCodeAt(valueEnd - 1) === 9)) valueEnd--;
    const value = piece(text, bytes, valueStart, valueEnd);
    if (BAD_VALUE.test(value)) return undefined;
    switch (field.kind) {
      case Kind.Host:
        hosts++;
        break;
      case Kind.ContentLength:
        if (value !== '0') return undefined;
        break;
      case Kind.Connection: {
        const lower = value.toLowerCase();
        if (lower === 'close') close = true;
        else if (lower !== 'keep-alive') return undefined;
        break;
      }
      default:
        break;
    }
    headers[field.name] = value;
    rawHeaders.push(field.raw, value);
    at = next + 2;
  }
  // Each name once, in any spelling: node:http joins some repeats and keeps the first of others, and the
  // lane does neither. A repeat overwrote its key, so the object has fewer keys than there were lines.
  if (hosts !== 1 || Object.keys(headers).length !== fields) return undefined;
  return { request: new FastRequest(method, url, headers, rawHeaders, socket), close };
}

/**
 * Puts the lane in front of `server`'s own connection handling: connections go to the lane, and the lane
 * gives node:http those it does not take. Undefined (no lane) when `server` is not as node:http makes it.
 */
export function attachFastLane(server: Server, handler: Handler, limits: FastLaneLimits): FastLane | undefined {
  // node:http's own listener, the only one on a fresh server. A Node.js that arranged this otherwise gets no
  // lane: every request then goes to node:http, slower but the same.
  const listeners = server.listeners('connection') as ((socket: Socket) => void)[];
  const nodeListener = listeners[0];
  if (listeners.length !== 1 || nodeListener?.name !== 'connectionListener') return undefined;
  server.removeListener('connection', nodeListener);
  const lane = new FastLane(handler, limits, (socket) => nodeListener.call(server, socket));
  server.on('connection', (socket: Socket) => lane.accept(socket));
  server.prependListener('request', (request: IncomingMessage) => lane.headDone(request.socket));
  server.once('close', () => lane.stop());
  return lane;
}
