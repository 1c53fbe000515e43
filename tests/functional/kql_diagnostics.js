// Kusto's own parser and binder (@kusto/language-service-next, from package.json) over KQL queries:
// reads {"tables": {name: "(column:type, ...)"}, "queries": {name: text}} on standard input and
// prints {name: {"diagnostics": [{severity, code, start, message}, ...], "columns": {name: type}}}:
// syntax errors and names that are no column, table or function of the tables given, and the
// columns of the query's result (empty when the result is not a table).
// Usage: node kql_diagnostics.js <node_modules/@kusto/language-service-next>
"use strict";
const fs = require("fs");
const path = require("path");

const root = process.argv[2];
require(path.join(root, "bridge.min.js"));
require(path.join(root, "Kusto.Language.Bridge.min.js"));
/* global Kusto */
const language = Kusto.Language;
const symbols = language.Symbols;

const input = JSON.parse(fs.readFileSync(0, "utf8"));
const tables = Object.entries(input.tables).map(
  ([name, schema]) => new symbols.TableSymbol.$ctor7(name, schema, null),
);
const database = new symbols.DatabaseSymbol.$ctor3("workspace", null, tables, false);
const globals = language.GlobalState.Default.WithDatabase(database);

const found = {};
for (const [name, text] of Object.entries(input.queries)) {
  const code = language.KustoCode.ParseAndAnalyze(text, globals);
  const diagnostics = code.GetDiagnostics();
  const result = { diagnostics: [], columns: {} };
  for (let i = 0; i < diagnostics.Count; i += 1) {
    const d = diagnostics.getItem(i);
    result.diagnostics.push({ severity: String(d.Severity), code: d.Code, start: d.Start, message: d.Message });
  }
  if (code.ResultType instanceof symbols.TableSymbol) {
    const columns = code.ResultType.Columns;
    for (let i = 0; i < columns.Count; i += 1) {
      const column = columns.getItem(i);
      result.columns[column.Name] = column.Type.Name;
    }
  }
  found[name] = result;
}
process.stdout.write(JSON.stringify(found));
