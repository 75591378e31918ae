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

/**
 * Serves `GET` and `HEAD` requests from one folder: `index.html` for a folder, a content type
 * from the extension, 404 for anything missing. A path that would leave the folder — `..`,
 * encoded `%2e%2e` or `%2f`, a symlink pointing out — is answered 404 like a missing file.
 *
 * @example
 * ```ts ignore
 * const files = new StaticFiles("./public");
 * const response = await files.serve(new URL(request.url).pathname, request.method);
 * ```
 */
export class StaticFiles {
  readonly #root: string;
  #realRoot: Promise<string> | undefined;

  /** Serve files under `root`. */
  constructor(root: string) {
    this.#root = resolve(root);
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
    if (decoded.includes("\0")) return undefined;
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
      if (error instanceof Deno.errors.NotFound || error instanceof Deno.errors.NotADirectory) {
        return undefined;
      }
      throw error;
    }
  }
}
