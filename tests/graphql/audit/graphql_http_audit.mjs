// Runs every audit of graphql-http's serverAudits against a live GraphQL endpoint.
// Usage: NODE_PATH=<dir>/node_modules node graphql_http_audit.mjs <url> <admin token>
// Prints one line per audit that is not ok, then a JSON summary line
// {"ok": n, "warn": n, "error": n}; exits 0 whatever the counts.
import { createRequire } from "node:module";
import path from "node:path";

const require = createRequire(path.join(process.env.AUDIT_MODULES ?? process.cwd(), "x.js"));
const { serverAudits } = require("graphql-http");

const [url, token] = process.argv.slice(2);
const authFetch = (input, init = {}) => {
  const headers = new Headers(init.headers ?? {});
  headers.set("X-User-Token", token);
  return fetch(input, { ...init, headers });
};

const counts = { ok: 0, warn: 0, error: 0 };
for (const audit of serverAudits({ url, fetchFn: authFetch })) {
  const result = await audit.fn();
  counts[result.status] += 1;
  if (result.status !== "ok") {
    console.log(`${result.status}: ${audit.name}: ${result.reason}`);
  }
}
console.log(JSON.stringify(counts));
