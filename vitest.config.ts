import { defineConfig } from "vitest/config";

export default defineConfig({
  test: {
    // Integration tests start real nats-server processes; two cores run them best a few at a time.
    maxWorkers: 2,
    testTimeout: 60_000,
    hookTimeout: 60_000,
    include: ["**/*.test.ts"],
    exclude: ["node_modules/**", "dist/**", ".tools/**"],
  },
});
