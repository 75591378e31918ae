/**
 * Serving a folder of static files, never a file outside it.
 *
 * @module
 */

import { extname, join, resolve, sep } from "node:path";
import { HttpError } from "./http_error.ts";

const CONTENT_TYPES: Record<string, string> = {
  ".html": "text/html; charset=utf-8",
  ".htm": "text/html; charset=utf-8",
  ".css": "text/css; charset=utf-8",
  ".js": "text/javascript; charset=utf-8",
  ".mjs": "text/javascript; charset=utf-8",
  ".json": "application/json",
  ".map": "application/json",
  ".txt": "text/plain; charset=utf-8",
  ".md": "text/markdown; charset=utf-8",
  ".svg": "image/svg+xml",
  ".png": "image/png",
  ".jpg": "image/jpeg",
  ".jpeg": "image/jpeg",
  ".gif": "image/gif",
  ".webp": "image/webp",
  ".ico": "image/x-icon",
  ".wasm": "application/wasm",
  ".woff": "font/woff",
  ".woff2": "font/woff2",
};

/** Options of {@linkcode StaticFiles}. */
export interface StaticFilesOptions {
  /**
   * Serve files and folders whose name starts with a dot (`/.env`, `/.git/config`). Off by
   * default: such paths are answered 404 like missing files.
   * @default {false}
   */
  dotFiles?: boolean;
}

/** Longest request path, in bytes, that is looked up at all (longer: 404). */
const MAX_PATH_BYTES = 4096;

/**
 * Serves `GET` and `HEAD` requests from one folder: `index.html` for a folder, a content type
 * from the extension, 404 for anything missing. A path that would leave the folder — `..`,
 * encoded `%2e%2e` or `%2f`, a symlink pointing out — is answered 404 like a missing file, and so
 * is a dot-file or dot-folder (unless `dotFiles` is set), a path over 4 KiB, a name the file
 * system refuses (too long) and a symlink loop: a request can never turn into a 500.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { StaticFiles } from "./static_files.ts";
 *
 * const root = await Deno.makeTempDir();
 * await Deno.writeTextFile(`${root}/.env`, "SECRET=1");
 * const files = new StaticFiles(root);
 * await assert.rejects(files.serve("/.env", "GET"), /Not found/);
 * ```
 */
export class StaticFiles {
  readonly #root: string;
  readonly #dotFiles: boolean;
  #realRoot: Promise<string> | undefined;

  /** Serve files under `root`. */
  constructor(root: string, options: StaticFilesOptions = {}) {
    this.#root = resolve(root);
    this.#dotFiles = options.dotFiles ?? false;
  }

  /** Answer a request for `pathname` (as in the URL, still percent-encoded). */
  async serve(pathname: string, method: string): Promise<Response> {
    if (method !== "GET" && method !== "HEAD") {
      throw new HttpError(405, `Method ${method} is not allowed for static files`);
    }
    const file = await this.#locate(pathname);
    if (file === undefined) throw new HttpError(404, "Not found");
    const type = CONTENT_TYPES[extname(file.path).toLowerCase()] ?? "application/octet-stream";
    const headers = { "content-type": type, "content-length": String(file.size) };
    if (method === "HEAD") return new Response(null, { headers });
    const opened = await Deno.open(file.path);
    return new Response(opened.readable, { headers });
  }

  async #locate(pathname: string): Promise<{ path: string; size: number } | undefined> {
    let decoded: string;
    try {
      decoded = decodeURIComponent(pathname);
    } catch {
      throw new HttpError(400, "Path is not valid percent-encoding");
    }
    if (decoded.includes("\0") || decoded.length > MAX_PATH_BYTES) return undefined;
    if (!this.#dotFiles && /(^|[\\/])\./.test(decoded)) return undefined;
    let path = join(this.#root, decoded);
    if (path !== this.#root && !path.startsWith(this.#root + sep)) return undefined;
    try {
      let info = await Deno.stat(path);
      if (info.isDirectory) {
        path = join(path, "index.html");
        info = await Deno.stat(path);
      }
      if (!info.isFile) return undefined;
      const realRoot = await (this.#realRoot ??= Deno.realPath(this.#root));
      const realPath = await Deno.realPath(path);
      if (!realPath.startsWith(realRoot + sep)) return undefined;
      return { path: realPath, size: info.size };
    } catch (error) {
      if (isUnservable(error)) return undefined;
      throw error;
    }
  }
}

/**
 * File system errors that mean "no such file" for a request: missing, not a folder, a name too
 * long (ENAMETOOLONG), a symlink loop (ELOOP), no permission.
 */
function isUnservable(error: unknown): boolean {
  if (
    error instanceof Deno.errors.NotFound || error instanceof Deno.errors.NotADirectory ||
    error instanceof Deno.errors.PermissionDenied || error instanceof Deno.errors.FilesystemLoop
  ) return true;
  const code = (error as { code?: string }).code;
  return code === "ENAMETOOLONG" || code === "ELOOP";
}
