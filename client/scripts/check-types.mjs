// Fails when src/api.d.ts is not what openapi-typescript makes of ../openapi.yaml
// today (the contract changed and `npm run types` was not run, or the file was
// edited by hand).
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import openapiTS, { astToString } from "openapi-typescript";

const here = (p) => fileURLToPath(new URL(p, import.meta.url));
const generated = astToString(await openapiTS(new URL("../../openapi.yaml", import.meta.url)));
const committed = readFileSync(here("../src/api.d.ts"), "utf8");
// The CLI adds a header comment; compare what follows it.
const body = (s) => s.slice(s.indexOf("export "));
if (body(generated).trim() !== body(committed).trim()) {
  console.error("client/src/api.d.ts does not match openapi.yaml: run `npm run types` in client/ and commit the result");
  process.exit(1);
}
console.log("client/src/api.d.ts matches openapi.yaml");
