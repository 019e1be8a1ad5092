/**
 * Keeps a long-running command (`hub start`, `leaf start`) alive until SIGINT or SIGTERM, then stops what
 * it started, in order, and returns. A second signal while stopping exits at once.
 */
export async function runUntilSignal(stop: () => Promise<void>): Promise<void> {
  await new Promise<void>((resolve) => {
    const onSignal = () => {
      process.off("SIGINT", onSignal);
      process.off("SIGTERM", onSignal);
      process.once("SIGINT", () => process.exit(130));
      process.once("SIGTERM", () => process.exit(143));
      resolve();
    };
    process.on("SIGINT", onSignal);
    process.on("SIGTERM", onSignal);
  });
  await stop();
}
