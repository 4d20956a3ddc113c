/// <reference lib="deno.unstable" />
/**
 * kholab lint plugin: `lib/` must be deterministic. `Math.random`, `Date.now` and
 * `performance.now` are allowed only in `lib/rng.ts`, the module that provides the seeded
 * generator and the clock.
 *
 * @module
 */

const BANNED: Record<string, string[]> = {
  Math: ["random"],
  Date: ["now"],
  performance: ["now"],
};

function inScope(filename: string): boolean {
  const f = filename.replaceAll("\\", "/");
  return /(^|\/)lib\//.test(f) && !/(^|\/)lib\/rng\.ts$/.test(f);
}

const plugin: Deno.lint.Plugin = {
  name: "kholab",
  rules: {
    "no-ambient-nondeterminism": {
      create(context) {
        if (!inScope(context.filename)) return {};
        return {
          MemberExpression(node) {
            if (node.object.type !== "Identifier" || node.property.type !== "Identifier") return;
            const props = BANNED[node.object.name];
            if (props?.includes(node.property.name)) {
              context.report({
                node,
                message: `${node.object.name}.${node.property.name} is not allowed in lib/: ` +
                  "use the seeded Rng and the Clock from lib/rng.ts",
              });
            }
          },
          NewExpression(node) {
            if (node.callee.type === "Identifier" && node.callee.name === "Date") {
              context.report({
                node,
                message: "new Date() is not allowed in lib/: use the Clock from lib/rng.ts",
              });
            }
          },
        };
      },
    },
  },
};

export default plugin;
