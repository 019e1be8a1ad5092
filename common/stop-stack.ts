/**
 * Teardown in reverse order of start, run once. A node or a set of services pushes a step as it starts each
 * part, so a start that fails half-way undoes what began and a stop undoes all of it. A second `run()`, or one
 * made while the first is under way, returns the first run's promise: no step runs twice. A failing step does
 * not keep the ones after it from running.
 *
 * @example
 * const stops = new StopStack();
 * const server = await startNatsServer(…);
 * stops.push(() => server.stop());
 * const nc = await connect(…);
 * stops.push(() => nc.close());
 * await stops.run(); // closes nc, then stops the server
 */
export class StopStack {
  readonly #steps: (() => Promise<unknown> | unknown)[] = [];
  #done: Promise<void> | undefined;

  /** Adds a step, to run before every step pushed earlier. Pushed after `run()` began, it runs at once. */
  push(step: () => Promise<unknown> | unknown): void {
    if (this.#done === undefined) this.#steps.push(step);
    else void this.#done.then(() => step()).catch(() => undefined);
  }

  /** Runs every step once, the last pushed first; resolves when all have ended, failed or not. */
  run(): Promise<void> {
    this.#done ??= (async () => {
      const steps = this.#steps.splice(0).reverse();
      for (const step of steps) {
        try {
          await step();
        } catch {
          // Teardown goes on: a server already gone or a connection already closed must not keep the rest up.
        }
      }
    })();
    return this.#done;
  }
}
