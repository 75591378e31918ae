/**
 * A strict HTTP/1.1 codec for the front: request heads (RFC 9112) parsed with limits, chunked
 * bodies decoded, response heads written. No I/O here; `http_server.ts` drives it.
 *
 * @module
 */

import { HttpError } from "./http_error.ts";

/** Largest request head (request line and headers), in bytes; more is 431. */
export const MAX_HEAD_BYTES = 16 * 1024;

/** Most header fields in one request; more is 431. */
export const MAX_HEADERS = 100;

/** A parsed request head. */
export interface RequestHead {
  /** The method, as sent (methods are case-sensitive). */
  readonly method: string;
  /** The request target: origin-form (`/path?q`) or absolute-form (`http://host/path`). */
  readonly target: string;
  /** 1 for HTTP/1.1, 0 for HTTP/1.0. */
  readonly minor: number;
  /** Header fields in order, names lower-cased. */
  readonly headers: [string, string][];
  /** The `Host` header, if any. */
  readonly host: string | undefined;
  /** `Content-Length`, or -1 when absent. */
  readonly contentLength: number;
  /** `Transfer-Encoding: chunked`. */
  readonly chunked: boolean;
  /** The connection may carry another request after this one. */
  readonly keepAlive: boolean;
  /** `Expect: 100-continue`. */
  readonly expectContinue: boolean;
}

const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;
const TARGET = /^[\x21-\x7e\x80-\xff]+$/;
// deno-lint-ignore no-control-regex -- control characters are what it looks for
const BAD_VALUE = /[\x00-\x08\x0a-\x1f\x7f]/;

/** {@linkcode findHeadEnd}: a line of the head ends in a bare LF, not CRLF. */
export const BARE_LF = -2;

/**
 * Where the head in `bytes[start..end]` ends (just past its blank line), -1 when it is not
 * complete yet, or {@linkcode BARE_LF} when a line ends in LF alone (which would otherwise wait
 * for a CRLF that never comes). `from` is where the previous search stopped, so that a head
 * arriving byte by byte costs linear time.
 */
export function findHeadEnd(bytes: Uint8Array, start: number, end: number, from: number): number {
  let i = Math.max(start, from - 3);
  while (i < end) {
    const lf = bytes.indexOf(10, i);
    if (lf < 0 || lf >= end) return -1;
    if (lf === start || bytes[lf - 1] !== 13) return BARE_LF;
    if (lf >= start + 3 && bytes[lf - 2] === 10 && bytes[lf - 3] === 13) return lf + 1;
    i = lf + 1;
  }
  return -1;
}

/** The bytes as a Latin-1 string (header bytes are opaque octets). */
export function latin1(bytes: Uint8Array, start: number, end: number): string {
  let text = "";
  for (let at = start; at < end; at += 8192) {
    const chunk = bytes.subarray(at, Math.min(end, at + 8192));
    text += String.fromCharCode.apply(null, chunk as unknown as number[]);
  }
  return text;
}

/**
 * Parse a request head (everything before the blank line, as Latin-1).
 *
 * @throws {HttpError} 400 for a malformed head, 431 for too many fields, 501 for a transfer
 * coding other than chunked, 505 for a version other than HTTP/1.0 and HTTP/1.1.
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { parseRequestHead } from "./http1.ts";
 *
 * const head = parseRequestHead("GET /status HTTP/1.1\r\nHost: example.com");
 * assert.equal(head.target, "/status");
 * assert.equal(head.host, "example.com");
 * ```
 */
export function parseRequestHead(text: string): RequestHead {
  const lines = text.split("\r\n");
  let first = 0;
  while (first < lines.length && lines[first] === "") first++; // RFC 9112 §2.2: ignore leading CRLFs
  const requestLine = lines[first] ?? "";
  const parts = requestLine.split(" ");
  if (parts.length !== 3) throw new HttpError(400, "Malformed request line");
  const [method, target, version] = parts;
  if (!TOKEN.test(method)) throw new HttpError(400, "Malformed request method");
  if (!TARGET.test(target)) throw new HttpError(400, "Malformed request target");
  let minor: number;
  if (version === "HTTP/1.1") minor = 1;
  else if (version === "HTTP/1.0") minor = 0;
  else if (/^HTTP\/\d\.\d$/.test(version)) {
    throw new HttpError(505, `HTTP version "${version.slice(5)}" is not supported`);
  } else throw new HttpError(400, "Malformed HTTP version");
  if (lines.length - first - 1 > MAX_HEADERS) {
    throw new HttpError(431, `More than ${MAX_HEADERS} header fields`);
  }
  const headers: [string, string][] = [];
  let host: string | undefined;
  let contentLength = -1;
  let transferEncoding: string | undefined;
  let connection = "";
  let expectContinue = false;
  for (let i = first + 1; i < lines.length; i++) {
    const line = lines[i];
    if (line[0] === " " || line[0] === "\t") {
      throw new HttpError(400, "Folded header lines are not accepted");
    }
    const colon = line.indexOf(":");
    if (colon <= 0) throw new HttpError(400, "Malformed header line");
    const name = line.slice(0, colon).toLowerCase();
    if (!TOKEN.test(name)) throw new HttpError(400, "Malformed header name");
    const value = line.slice(colon + 1).replace(/^[ \t]+|[ \t]+$/g, "");
    if (BAD_VALUE.test(value)) throw new HttpError(400, `Header "${name}" has a control character`);
    headers.push([name, value]);
    switch (name) {
      case "host":
        if (host !== undefined) throw new HttpError(400, "More than one Host header");
        host = value;
        break;
      case "content-length": {
        if (!/^\d{1,15}$/.test(value)) throw new HttpError(400, "Malformed Content-Length");
        const length = Number(value);
        if (contentLength >= 0 && contentLength !== length) {
          throw new HttpError(400, "Conflicting Content-Length headers");
        }
        contentLength = length;
        break;
      }
      case "transfer-encoding":
        transferEncoding = transferEncoding === undefined ? value : `${transferEncoding}, ${value}`;
        break;
      case "connection":
        connection += `,${value.toLowerCase()}`;
        break;
      case "expect":
        if (value.toLowerCase() === "100-continue") expectContinue = true;
        break;
    }
  }
  let chunked = false;
  if (transferEncoding !== undefined) {
    if (contentLength >= 0) {
      throw new HttpError(400, "Both Transfer-Encoding and Content-Length are set");
    }
    if (minor === 0) throw new HttpError(400, "Transfer-Encoding in an HTTP/1.0 request");
    if (transferEncoding.toLowerCase() !== "chunked") {
      throw new HttpError(501, `Transfer-Encoding "${transferEncoding}" is not supported`);
    }
    chunked = true;
  }
  if (minor === 1 && host === undefined) throw new HttpError(400, "Missing Host header");
  const tokens = connection.split(",").map((token) => token.trim());
  const keepAlive = minor === 1 ? !tokens.includes("close") : tokens.includes("keep-alive");
  return {
    method,
    target,
    minor,
    headers,
    host,
    contentLength,
    chunked,
    keepAlive,
    expectContinue,
  };
}

/**
 * The URL of a request: from an absolute-form target, or from the `Host` header and an
 * origin-form target.
 *
 * @throws {HttpError} 400 when the target or the `Host` header does not make a valid URL.
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { parseRequestHead, requestUrl } from "./http1.ts";
 *
 * const head = parseRequestHead("GET /ws/lobby HTTP/1.1\r\nHost: example.com:8080");
 * assert.equal(requestUrl(head, "127.0.0.1:8080"), "http://example.com:8080/ws/lobby");
 * ```
 */
export function requestUrl(head: RequestHead, fallbackHost: string): string {
  const { target } = head;
  if (target[0] === "/") {
    const host = head.host ?? fallbackHost;
    // A Host header must be a host (and port): no path, userinfo, query or spaces.
    if (host === "" || /[\/\\?#@\s%]/.test(host)) throw new HttpError(400, "Invalid Host header");
    let url: URL;
    try {
      url = new URL(`http://${host}${target}`);
    } catch {
      throw new HttpError(400, "Invalid Host header");
    }
    return url.href;
  }
  if (/^https?:\/\//i.test(target)) {
    try {
      return new URL(target).href;
    } catch {
      throw new HttpError(400, "Malformed request target");
    }
  }
  throw new HttpError(400, "Unsupported request target form");
}

const REASONS: Record<number, string> = {
  100: "Continue",
  101: "Switching Protocols",
  200: "OK",
  201: "Created",
  204: "No Content",
  206: "Partial Content",
  301: "Moved Permanently",
  302: "Found",
  304: "Not Modified",
  307: "Temporary Redirect",
  308: "Permanent Redirect",
  400: "Bad Request",
  401: "Unauthorized",
  403: "Forbidden",
  404: "Not Found",
  405: "Method Not Allowed",
  408: "Request Timeout",
  409: "Conflict",
  413: "Content Too Large",
  414: "URI Too Long",
  416: "Range Not Satisfiable",
  426: "Upgrade Required",
  429: "Too Many Requests",
  431: "Request Header Fields Too Large",
  500: "Internal Server Error",
  501: "Not Implemented",
  502: "Bad Gateway",
  503: "Service Unavailable",
  505: "HTTP Version Not Supported",
};

/**
 * A response head: status line, the given fields, and the blank line.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { responseHead } from "./http1.ts";
 *
 * assert.equal(responseHead(204, "", [["x-a", "1"]]), "HTTP/1.1 204 No Content\r\nx-a: 1\r\n\r\n");
 * ```
 */
export function responseHead(
  status: number,
  statusText: string,
  fields: Iterable<[string, string]>,
): string {
  let head = `HTTP/1.1 ${status} ${statusText || REASONS[status] || ""}\r\n`;
  for (const [name, value] of fields) head += `${name}: ${value}\r\n`;
  return `${head}\r\n`;
}

/** A complete plain-text response for errors the front answers itself, with `Connection: close`. */
export function closingResponse(status: number, reason: string): Uint8Array {
  const body = new TextEncoder().encode(reason);
  return encodeLatin1(
    responseHead(status, "", [
      ["content-type", "text/plain; charset=utf-8"],
      ["content-length", String(body.length)],
      ["connection", "close"],
    ]),
    body,
  );
}

/** `text` as Latin-1 bytes (one byte per character), followed by `body`. */
export function encodeLatin1(text: string, body?: Uint8Array): Uint8Array {
  const bytes = new Uint8Array(text.length + (body?.length ?? 0));
  for (let i = 0; i < text.length; i++) bytes[i] = text.charCodeAt(i);
  if (body) bytes.set(body, text.length);
  return bytes;
}

/**
 * A chunk-size line (extensions included) or trailer line longer than this is refused: it must
 * fit the connection's read buffer.
 */
const MAX_CHUNK_LINE = 512;

/**
 * Decodes a chunked body (RFC 9112 §7.1) incrementally. Feed it bytes; it returns how many it
 * used and collects data ranges; trailers are read and dropped.
 */
export class ChunkedDecoder {
  /** Data bytes left in the current chunk. */
  #remaining = 0;
  /** 0: size line, 1: data, 2: CRLF after data, 3: trailers, 4: done. */
  #state = 0;
  #trailerBytes = 0;

  /** The last chunk and the trailers have been read. */
  get done(): boolean {
    return this.#state === 4;
  }

  /**
   * Consume from `bytes[start..end]`: returns `[used, dataStart, dataEnd]`, where the data range
   * (possibly empty) is body bytes. Call again with the rest until `used` is 0 (more input is
   * needed) or `done`.
   *
   * @throws {HttpError} 400 for malformed chunk framing.
   */
  feed(bytes: Uint8Array, start: number, end: number): [number, number, number] {
    switch (this.#state) {
      case 0: {
        const lf = bytes.indexOf(10, start);
        if (lf < 0 || lf >= end) {
          if (end - start > MAX_CHUNK_LINE) throw new HttpError(400, "Chunk size line too long");
          return [0, 0, 0];
        }
        if (lf - start > MAX_CHUNK_LINE) throw new HttpError(400, "Chunk size line too long");
        if (lf === start || bytes[lf - 1] !== 13) throw new HttpError(400, "Malformed chunk");
        const line = latin1(bytes, start, lf - 1);
        const size = /^([0-9a-fA-F]{1,8})(?:[ \t]*;.*)?$/.exec(line);
        if (!size) throw new HttpError(400, "Malformed chunk size");
        this.#remaining = parseInt(size[1], 16);
        this.#state = this.#remaining === 0 ? 3 : 1;
        return [lf + 1 - start, 0, 0];
      }
      case 1: {
        const take = Math.min(this.#remaining, end - start);
        if (take === 0) return [0, 0, 0];
        this.#remaining -= take;
        if (this.#remaining === 0) this.#state = 2;
        return [take, start, start + take];
      }
      case 2:
        if (end - start < 2) return [0, 0, 0];
        if (bytes[start] !== 13 || bytes[start + 1] !== 10) {
          throw new HttpError(400, "Malformed chunk end");
        }
        this.#state = 0;
        return [2, 0, 0];
      case 3: {
        const lf = bytes.indexOf(10, start);
        if (lf < 0 || lf >= end) {
          if (end - start > MAX_CHUNK_LINE) throw new HttpError(431, "Trailer line too long");
          return [0, 0, 0];
        }
        if (lf - start > MAX_CHUNK_LINE) throw new HttpError(431, "Trailer line too long");
        if (lf === start || bytes[lf - 1] !== 13) throw new HttpError(400, "Malformed trailer");
        this.#trailerBytes += lf + 1 - start;
        if (this.#trailerBytes > MAX_HEAD_BYTES) throw new HttpError(431, "Trailers too large");
        if (lf - 1 === start) this.#state = 4;
        return [lf + 1 - start, 0, 0];
      }
      default:
        return [0, 0, 0];
    }
  }
}
