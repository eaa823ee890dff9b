// Usage: node validate.mjs FILE...  Exits 1 if any document has an error-severity diagnostic.
import { readFile } from "node:fs/promises";
import { Parser } from "@asyncapi/parser";

const parser = new Parser();
const SEVERITY = ["error", "warning", "info", "hint"];
let failed = false;
for (const file of process.argv.slice(2)) {
  const { document, diagnostics } = await parser.parse(await readFile(file, "utf8"));
  const errors = diagnostics.filter((d) => d.severity === 0);
  for (const d of diagnostics) {
    console.log(`${file}: ${SEVERITY[d.severity]} ${d.code} at ${d.path.join(".")}: ${d.message}`);
  }
  if (!document || errors.length) failed = true;
  console.log(`${file}: ${document && !errors.length ? "valid" : "INVALID"} (AsyncAPI ${document?.version() ?? "?"}, ${errors.length} errors, ${diagnostics.length - errors.length} other diagnostics)`);
}
process.exit(failed ? 1 : 0);
