import { defineConfig } from "vitest/config";

export default defineConfig({
  test: {
    // Integration tests start real nats-server processes; two cores run them best a few at a time. `npm test`
    // runs test/hub-cluster.test.ts on its own after the rest: three clustered nodes failing over take both
    // cores, and timing-sensitive tests beside them (agent cancel, kill mid-task) then missed their waits.
    maxWorkers: 2,
    testTimeout: 60_000,
    hookTimeout: 60_000,
    include: ["**/*.test.ts"],
    exclude: ["node_modules/**", "dist/**", ".tools/**"],
  },
});
