import { describe, expect, it } from "vitest";
import { type SandboxRequest, sandboxOptions } from "./sandbox.js";

const request: SandboxRequest = {
  tre: "north",
  taskId: "01JD3ZZZZZZZZZZZZZZZZZZZZZ",
  imageId: `sha256:${"a".repeat(64)}`,
  command: ["/app/run.sh"],
  env: { COLUMN: "bmi" },
  dataDir: "/srv/tre/tasks/x/data",
  outputDir: "/srv/tre/tasks/x/outputs",
  user: "65534:65534",
  limits: { memoryBytes: 64 << 20, nanoCpus: 5e8, pids: 64, tmpfsBytes: 1 << 20 },
};

describe("the container sandbox", () => {
  it("takes the network, the root filesystem's writability, capabilities and privileges away", () => {
    const o = sandboxOptions(request);
    expect(o.NetworkDisabled).toBe(true);
    expect(o.HostConfig).toMatchObject({
      NetworkMode: "none",
      ReadonlyRootfs: true,
      CapDrop: ["ALL"],
      SecurityOpt: ["no-new-privileges"],
      Privileged: false,
      Memory: 64 << 20,
      MemorySwap: 64 << 20,
      NanoCpus: 5e8,
      PidsLimit: 64,
    });
    expect(o.HostConfig?.CapAdd).toBeUndefined();
    expect(o.User).toBe("65534:65534");
    expect(o.HostConfig?.Binds).toEqual([
      "/srv/tre/tasks/x/data:/data:ro",
      "/srv/tre/tasks/x/outputs:/outputs:rw",
    ]);
    expect(o.HostConfig?.Tmpfs?.["/tmp"]).toMatch(/noexec/);
    expect(o.Labels).toEqual({ "org.tremesh.tre": "north", "org.tremesh.task": request.taskId });
  });

  it("never runs as root, and refuses host paths that would change a bind's meaning", () => {
    for (const user of ["0:0", "root", "0", "00:100"])
      expect(() => sandboxOptions({ ...request, user }), user).toThrow(/never run as root/);
    expect(() => sandboxOptions({ ...request, outputDir: "/srv/a:/etc" })).toThrow(/may not hold/);
  });
});
