/**
 * Watch folders for changes, debounced, ignoring build outputs.
 *
 * @module
 */

/**
 * Calls `onChange` with the changed paths once the file system has been quiet for `debounceMs`
 * after a change. Paths `ignores` accepts (build outputs, `.git`) never trigger it. Filtering
 * happens here, not through `Deno.watchFs`, whose ignore list only covers paths that exist when
 * the watcher starts (a `target/` folder created by the first build would slip through).
 *
 * @example
 * ```ts ignore
 * const watcher = new ChangeWatcher(["src"], (path) => path.includes("/target/"), (paths) => {
 *   console.log("changed:", paths);
 * });
 * // later
 * watcher.close();
 * ```
 */
export class ChangeWatcher {
  readonly #watcher: Deno.FsWatcher;
  readonly #ignores: (path: string) => boolean;
  readonly #onChange: (paths: string[]) => void;
  readonly #debounceMs: number;
  #pending = new Set<string>();
  #timer: ReturnType<typeof setTimeout> | undefined;

  /** Start watching `paths` recursively. */
  constructor(
    paths: readonly string[],
    ignores: (path: string) => boolean,
    onChange: (paths: string[]) => void,
    debounceMs = 150,
  ) {
    this.#watcher = Deno.watchFs([...paths], { recursive: true });
    this.#ignores = ignores;
    this.#onChange = onChange;
    this.#debounceMs = debounceMs;
    void this.#run();
  }

  /** Stop watching; no callback runs afterwards. */
  close(): void {
    clearTimeout(this.#timer);
    this.#watcher.close();
  }

  async #run(): Promise<void> {
    try {
      for await (const event of this.#watcher) {
        if (event.kind === "access" || event.kind === "other") continue;
        const paths = event.paths.filter((path) => !this.#ignores(path));
        if (paths.length === 0) continue;
        for (const path of paths) this.#pending.add(path);
        clearTimeout(this.#timer);
        this.#timer = setTimeout(() => {
          const changed = [...this.#pending];
          this.#pending = new Set();
          this.#onChange(changed);
        }, this.#debounceMs);
      }
    } catch (error) {
      if (!(error instanceof Deno.errors.BadResource)) throw error;
    }
  }
}
